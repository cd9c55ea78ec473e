"""The fast layer: no process, the store on fakeredis with its real Lua scripts."""
