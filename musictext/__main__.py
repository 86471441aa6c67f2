from musictext.cli.app import main

main()
