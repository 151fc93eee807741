"""The parts of the SSH emulation (asyncssh server, login policy, SCP/SFTP, host keys, fingerprint).

The service itself is honeyguard.sensor.services.ssh; the emulated shell is honeyguard.sensor.shell.
"""
