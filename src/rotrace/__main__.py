from rotrace.entry import main

main()
