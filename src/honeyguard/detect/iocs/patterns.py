"""The regular expressions and word lists IOC extraction uses (all linear, bounded inputs)."""

from __future__ import annotations

import re

_OCTET = rb"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rb"(?<![\d.])" + _OCTET + rb"(?:\." + _OCTET + rb"){3}(?![\d]|\.\d)")
_LABEL = rb"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
HOST = rb"(?:\[[0-9a-fA-F:]{2,39}\]|" + _LABEL + rb"(?:\." + _LABEL + rb"){0,8})"
SCHEMES = rb"https?|ftp|tftp|ldaps?|rmi|dns|iiop|corba|nds|nis|stratum\+(?:tcp|ssl|tls)|stratum2\+tcp|ws|wss"
URL = re.compile(rb"\b(?:" + SCHEMES + rb")://[^\s\"'<>`|;,(){}\[\]\\^]{1,2048}", re.I)
_URL_SCHEME = rb"^([A-Za-z0-9+.-]+)://"
_URL_USERINFO = rb"(?:[^@/\s]{0,256}@)?"
_URL_HOST_PORT = rb"(" + HOST + rb")(?::(\d{1,5}))?"
URL_PARTS = re.compile(_URL_SCHEME + _URL_USERINFO + _URL_HOST_PORT, re.I)
# URL_PARTS for a URL without '@' (its user-info group cannot match there); every class already
# holds both cases, so without re.I it matches the same bytes, faster
URL_PARTS_NO_USERINFO = re.compile(_URL_SCHEME + _URL_HOST_PORT)
JNDI = re.compile(rb"\$\{jndi:([a-z]{2,6})://([^\s}]{1,1024})", re.I)
DEV_TCP = re.compile(rb"/dev/(?:tcp|udp)/(" + HOST + rb")/(\d{1,5})", re.I)
SOCAT = re.compile(rb"\b(?:tcp|tcp4|tcp6|tcp-connect|openssl|openssl-connect|ssl):(" + HOST + rb"):(\d{1,5})", re.I)
PY_CONNECT = re.compile(rb"connect\(\(\s*[\"'](" + HOST + rb")[\"']\s*,\s*(\d{1,5})\s*\)\)")
# A command segment: from the tool name to the next command separator.
DOWNLOAD_CMD = re.compile(
    rb"\b(wget|curl|tftp|ftpget|fetch|lwp-download|lynx|aria2c|busybox\s+(?:wget|tftp|ftpget))\b([^;|&\n`]{0,1024})",
    re.I,
)
# Parameters whose value a vulnerable application fetches (Social Warfare's swp_url, CVE-2019-9978).
FETCH_PARAM = re.compile(rb"(?:^|[?&\s])(?:swp_url)=((?:https?|ftp)://[^&\s\"'<>]{1,2048})", re.I)
# TFTP-style fetches (tftp -g -r FILE HOST; Mozi's 'busybox wget -g HOST -l LOCAL -r FILE').
TFTP_GET = re.compile(rb"(?:^|\s)-g(?:\s|$)")
TFTP_REMOTE = re.compile(rb"(?:^|\s)-r\s+([^\s\"'`;|&<>]{1,256})")
NC_CMD = re.compile(rb"(\|\s*)?\b(nc|ncat|netcat|busybox\s+nc)\b([^;&\n`]{0,512})", re.I)
HOST_TOKEN = re.compile(rb"(?<![\w./-])(" + HOST + rb")(?::(\d{1,5}))?(/[^\s\"'`;|&<>]{0,1024})?")
PORT_TOKEN = re.compile(rb"(?<![\w.:/-])(\d{2,5})(?![\w.:/])")
STRATUM_HOSTPORT = re.compile(rb"(?:-o|--url[= ])\s*(?:stratum\+\w+://)?(" + HOST + rb"):(\d{2,5})", re.I)
MONERO = re.compile(rb"(?<![0-9A-Za-z])[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}(?![0-9A-Za-z])")
BITCOIN_BECH32 = re.compile(rb"(?<![0-9A-Za-z])bc1[02-9ac-hj-np-z]{25,87}(?![0-9A-Za-z])")
BITCOIN_LEGACY = re.compile(rb"(?<![0-9A-Za-z])[13][a-km-zA-HJ-NP-Z1-9]{25,34}(?![0-9A-Za-z])")
ETHEREUM = re.compile(rb"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?![0-9A-Za-z])")
HASH = re.compile(rb"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![0-9A-Za-z])")
EXFIL_FLAGS = re.compile(
    rb"(?:\s-d\s*@|--data(?:-binary|-raw|-urlencode)?[= ]\s*@|\s-F\s*\S*=@|\s-T\s|--upload-file|"
    rb"--post-file|\$\((?:cat|whoami|id|hostname|uname)|`(?:cat|whoami|id|hostname|uname))",
    re.I,
)
MINER_CONTEXT = re.compile(
    rb"xmrig|xmr-stak|stratum|minerd|cpuminer|nicehash|--donate-level|\bpool\b|wallet|"
    rb"-u\s|--user[= ]|monero|cryptonight|randomx",
    re.I,
)

# Pools seen in cryptojacking payloads; a domain ending in one of these is role miner-pool.
MINING_POOL_DOMAINS = (
    "supportxmr.com",
    "xmrpool.eu",
    "moneroocean.stream",
    "minexmr.com",
    "nanopool.org",
    "c3pool.com",
    "hashvault.pro",
    "2miners.com",
    "herominers.com",
    "f2pool.com",
    "unmineable.com",
    "minergate.com",
    "xmr.pool.gntl.co.uk",
    "monerohash.com",
    "dwarfpool.com",
    "crypto-pool.fr",
    "ethermine.org",
    "viabtc.com",
    "antpool.com",
    "nicehash.com",
    "zpool.ca",
    "miningpoolhub.com",
    "p2pool.io",
    "kryptex.network",
    "gulf.moneroocean.stream",
    "pool.hashvault.pro",
    "xmrfast.com",
    "xmr.2miners.com",
    "mine.c3pool.com",
    "auto.c3pool.org",
    "c3pool.org",
    "pool.minexmr.com",
    "monero.crypto-pool.fr",
)

# Top-level domains accepted for a bare word like "evil.example"; file extensions that are
# also TLDs (.sh, .pl, .py, .zip, .md...) are left out so "x.sh" is a file, not a domain.
BARE_TLDS = frozenset(
    (
        "com",
        "net",
        "org",
        "info",
        "biz",
        "ru",
        "cn",
        "io",
        "xyz",
        "top",
        "tk",
        "ml",
        "ga",
        "cf",
        "gq",
        "pw",
        "cc",
        "su",
        "ua",
        "de",
        "uk",
        "nl",
        "fr",
        "br",
        "ir",
        "kr",
        "jp",
        "tw",
        "hk",
        "vn",
        "eu",
        "online",
        "site",
        "club",
        "live",
        "pro",
        "space",
        "fun",
        "icu",
        "shop",
        "store",
        "cloud",
        "app",
        "dev",
        "ws",
        "to",
        "ly",
        "gg",
        "me",
        "co",
        "us",
        "cyou",
        "buzz",
        "work",
        "link",
        "click",
        "host",
        "website",
        "tech",
    )
)
FILE_SUFFIXES = frozenset(
    (
        "php",
        "html",
        "htm",
        "asp",
        "aspx",
        "jsp",
        "js",
        "css",
        "json",
        "xml",
        "txt",
        "cgi",
        "pl",
        "sh",
        "py",
        "rb",
        "exe",
        "dll",
        "jpg",
        "png",
        "gif",
        "ico",
        "svg",
        "bak",
        "old",
        "zip",
        "gz",
        "tar",
        "rar",
        "env",
        "yml",
        "yaml",
        "conf",
        "cfg",
        "ini",
        "log",
        "sql",
        "db",
        "action",
        "do",
        "md",
        "bin",
        "elf",
        "arm",
        "arm7",
        "mips",
        "mpsl",
        "x86",
        "m68k",
        "ppc",
        "sparc",
        "sh4",
        "i686",
        "i586",
        "x86_64",
        "aarch64",
    )
)
