from services.recipient_sim.app import main

main()
