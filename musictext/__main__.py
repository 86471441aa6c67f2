from musictext.cli.app import run

run()
