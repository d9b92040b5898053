from screens.entry import main

raise SystemExit(main())
