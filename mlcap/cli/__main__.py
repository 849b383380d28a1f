from mlcap.cli import main

main()
