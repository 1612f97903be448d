"""The standalone rotrace's entry (PyInstaller): the installed command's."""

from rotrace.entry import main

main()
