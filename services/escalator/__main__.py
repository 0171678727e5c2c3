from services.escalator.app import main

main()
