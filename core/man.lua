-- man.lua: prints the man page tasknum(1); `make` runs it in the binary it
-- has just built (`tasknum run core/man.lua`), so the page comes from the
-- declarations of the commands that binary ships (tasknum.man).
io.write(require("tasknum.man").page())
