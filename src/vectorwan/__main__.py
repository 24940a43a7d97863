from vectorwan.cli import main

raise SystemExit(main())
