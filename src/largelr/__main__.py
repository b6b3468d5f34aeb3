from largelr.cli import main

raise SystemExit(main())
