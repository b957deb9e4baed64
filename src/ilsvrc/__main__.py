from ilsvrc.cli import main

raise SystemExit(main())
