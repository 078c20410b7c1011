"""The host layer: the only code that talks to hosts (SSH, sudo, SFTP), and the
run's set of hosts with their roles and addresses."""
