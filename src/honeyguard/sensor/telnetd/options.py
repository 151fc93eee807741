"""RFC 854 / 855 option negotiation: split a telnet byte stream into data and IAC commands.

``TelnetStream.feed`` takes whatever arrived (any bytes, cut anywhere) and returns the plain data;
the answers the negotiation needs pile up in ``replies``. Options we offer (``WILL``) or ask for
(``DO``) are agreed when the client says yes; everything else is refused once, so two peers can
never loop on an option (RFC 1143's concern). Subnegotiations are capped in bytes.
"""

from __future__ import annotations

from enum import IntEnum, auto

IAC, DONT, DO, WONT, WILL, SB, GA, EL, EC, AYT, AO, IP, BRK, DM, NOP, SE = (
    255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244, 243, 242, 241, 240)

#: Option codes by the names personas use (RFC 857, 858, 859, 1073, 1079, 1091, 1096, 1372, 1572).
OPTIONS: dict[str, int] = {
    "binary": 0, "echo": 1, "sga": 3, "status": 5, "timing-mark": 6, "ttype": 24, "naws": 31,
    "tspeed": 32, "lflow": 33, "linemode": 34, "xdisploc": 35, "old-environ": 36, "new-environ": 39,
}
VERBS: dict[str, int] = {"will": WILL, "wont": WONT, "do": DO, "dont": DONT}

MAX_SUBNEGOTIATION = 512  # bytes of one SB ... SE kept; the rest is dropped
SEND, IS = 1, 0  # the TTYPE / TSPEED / NEW-ENVIRON subcommands (RFC 1091)


class _State(IntEnum):
    DATA = auto()
    IAC = auto()
    VERB = auto()  # after IAC WILL/WONT/DO/DONT: the option byte comes next
    SB = auto()
    SB_IAC = auto()


def command_bytes(spec: str) -> bytes:
    """'do naws' -> IAC DO NAWS; an unknown name is a ValueError (personas are checked at load)."""
    verb, _, name = spec.strip().lower().partition(" ")
    option = OPTIONS.get(name.strip())
    if verb not in VERBS or option is None:
        raise ValueError(f"not a telnet option command: {spec!r} (e.g. 'do naws', 'will echo')")
    return bytes((IAC, VERBS[verb], option))


class TelnetStream:
    """One connection's side of the negotiation. Never raises on any input."""

    def __init__(self, *, offer: set[int] | frozenset[int] = frozenset(),
                 accept: set[int] | frozenset[int] = frozenset()) -> None:
        self.offer = frozenset(offer)  # options we are willing to do (we send WILL or agree to DO)
        self.accept = frozenset(accept)  # options we let the client do (we send DO or agree to WILL)
        self.ours: set[int] = set()  # options in effect on our side
        self.theirs: set[int] = set()  # options in effect on the client's side
        self.sent_will: set[int] = set()
        self.sent_do: set[int] = set()
        self.answered: set[int] = set()  # options the client has said WILL or WONT to
        self._refused: set[tuple[int, int]] = set()
        self.replies = bytearray()
        self.interrupts = 0  # IAC IP / IAC BRK seen (the data stream gets a ^C for them)
        self.terminal_type = ""
        self.window: tuple[int, int] | None = None
        self._state = _State.DATA
        self._verb = 0
        self._sb = bytearray()
        self._sb_dropped = False

    # -- what we say first ---------------------------------------------------------------------

    def send(self, verb: int, option: int) -> bytes:
        """Remember a WILL/DO we start (so the client's yes is an answer, not a request)."""
        if verb == WILL:
            self.sent_will.add(option)
        elif verb == DO:
            self.sent_do.add(option)
        return bytes((IAC, verb, option))

    def start(self, commands: list[bytes]) -> bytes:
        return b"".join(self.send(c[1], c[2]) for c in commands)

    def take_replies(self) -> bytes:
        out = bytes(self.replies)
        self.replies.clear()
        return out

    # -- the stream ----------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        """The data bytes of ``chunk``, IAC sequences removed and answered."""
        data = bytearray()
        state = self._state
        for byte in chunk:
            if state is _State.DATA:
                if byte == IAC:
                    state = _State.IAC
                else:
                    data.append(byte)
            elif state is _State.IAC:
                state = self._command(byte, data)
            elif state is _State.VERB:
                self._negotiate(self._verb, byte)
                state = _State.DATA
            elif state is _State.SB:
                if byte == IAC:
                    state = _State.SB_IAC
                else:
                    self._sb_byte(byte)
            else:  # SB_IAC
                if byte == SE:
                    self._subnegotiation(bytes(self._sb))
                    self._sb.clear()
                    self._sb_dropped = False
                    state = _State.DATA
                elif byte == IAC:
                    self._sb_byte(IAC)
                    state = _State.SB
                else:  # a client that forgot IAC SE: end the subnegotiation and read the command
                    self._sb.clear()
                    state = self._command(byte, data)
        self._state = state
        return bytes(data)

    def _command(self, byte: int, data: bytearray) -> _State:
        if byte == IAC:
            data.append(IAC)  # an escaped 255 is data
            return _State.DATA
        if byte in (WILL, WONT, DO, DONT):
            self._verb = byte
            return _State.VERB
        if byte == SB:
            self._sb.clear()
            return _State.SB
        if byte in (IP, BRK):
            self.interrupts += 1
            data.append(0x03)  # the terminal driver would turn it into SIGINT: the line reader sees ^C
        elif byte == AYT:
            self.replies += b"\r\n[Yes]\r\n"
        elif byte == EC:
            data.append(0x7F)
        elif byte == EL:
            data.append(0x15)  # ^U: kill the line
        return _State.DATA  # NOP, DM, GA, AO, SE out of place, or anything unknown: nothing to do

    def _sb_byte(self, byte: int) -> None:
        if len(self._sb) < MAX_SUBNEGOTIATION:
            self._sb.append(byte)
        else:
            self._sb_dropped = True

    def _negotiate(self, verb: int, option: int) -> None:
        if verb == DO:
            self._client_do(option)
        elif verb == DONT:
            if option in self.ours:
                self.ours.discard(option)
                self._reply(WONT, option)
            self.sent_will.discard(option)
        elif verb == WILL:
            self.answered.add(option)
            self._client_will(option)
        else:  # WONT
            self.answered.add(option)
            if option in self.theirs:
                self.theirs.discard(option)
                self._reply(DONT, option)
            self.sent_do.discard(option)

    def _client_do(self, option: int) -> None:
        if option in self.ours:
            return  # already in effect: no answer (RFC 854: never acknowledge a mode already in)
        if option in self.sent_will:
            self.ours.add(option)  # the yes to our offer
        elif option in self.offer:
            self.ours.add(option)
            self._reply(WILL, option)
        else:
            self._refuse(WONT, option)

    def _client_will(self, option: int) -> None:
        if option in self.theirs:
            return
        if option in self.sent_do:
            self.theirs.add(option)
        elif option in self.accept:
            self.theirs.add(option)
            self._reply(DO, option)
        else:
            self._refuse(DONT, option)

    def _reply(self, verb: int, option: int) -> None:
        self.replies += bytes((IAC, verb, option))

    def _refuse(self, verb: int, option: int) -> None:
        """Refuse an option once: a client repeating itself gets no more answers (no loop)."""
        if (verb, option) not in self._refused:
            self._refused.add((verb, option))
            self._reply(verb, option)

    def _subnegotiation(self, body: bytes) -> None:
        if not body:
            return
        option, rest = body[0], body[1:]
        if option == OPTIONS["naws"] and len(rest) >= 4:
            self.window = (rest[0] << 8 | rest[1], rest[2] << 8 | rest[3])
        elif option == OPTIONS["ttype"] and rest[:1] == bytes((IS,)):
            self.terminal_type = rest[1:65].decode("ascii", "replace")

    def request_subnegotiation(self, option: int) -> bytes:
        """IAC SB <option> SEND IAC SE, as telnetd asks for the terminal type and speed."""
        return bytes((IAC, SB, option, SEND, IAC, SE))
