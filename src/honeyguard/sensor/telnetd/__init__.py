"""The telnet sensor's parts: option negotiation, line discipline, login and shell session, personas."""
