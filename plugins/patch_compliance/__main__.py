from patch_compliance.cli import main

raise SystemExit(main())
