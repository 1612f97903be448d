from rotrace.cli import main

main()
