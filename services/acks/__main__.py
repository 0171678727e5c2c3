from services.acks.app import main

main()
