from services.ops.app import main

main()
