"""Pure knowledge: what PostgreSQL is like on each version and layout, and the
text and commands the tool writes, rendered from facts.  Nothing here talks
to a host; every function is unit-tested without one."""
