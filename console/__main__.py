from console.cli import process_main

raise SystemExit(process_main())
