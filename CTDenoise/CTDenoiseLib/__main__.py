from CTDenoiseLib.cli import main

raise SystemExit(main())
