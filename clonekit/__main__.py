from clonekit.cli import main

raise SystemExit(main())
