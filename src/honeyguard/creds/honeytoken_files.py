"""The credential files a honeytoken is served in: what scanners fetch, written the way real
applications write them, with plausible neighbours (database, mail, app key) so the file looks
lived-in. Every file carries the key pair in the form its kind of application uses.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from urllib.parse import quote

from honeyguard.clock import Entropy

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_APPS = ("billing", "portal", "shop", "crm", "api", "dashboard", "orders", "checkout")
_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1")

Renderer = Callable[[str, str, "Filler"], str]


class Filler:
    """Random but plausible values for the other settings of a file."""

    def __init__(self, entropy: Entropy) -> None:
        self._entropy = entropy

    def pick(self, options: tuple[str, ...]) -> str:
        return options[self._entropy.randbits(16) % len(options)]

    def word(self, length: int) -> str:
        return "".join(_ALNUM[self._entropy.randbits(16) % len(_ALNUM)] for _ in range(length))

    def number(self, low: int, high: int) -> int:
        return low + self._entropy.randbits(32) % (high - low + 1)


def _env(key_id: str, secret: str, f: Filler) -> str:
    app, region = f.pick(_APPS), f.pick(_REGIONS)
    return (
        f"APP_NAME={app.capitalize()}\nAPP_ENV=production\nAPP_KEY=base64:{f.word(43)}=\nAPP_DEBUG=false\n"
        f"APP_URL=https://{app}.internal\n\nLOG_CHANNEL=stack\nLOG_LEVEL=error\n\n"
        f"DB_CONNECTION=mysql\nDB_HOST=10.0.{f.number(1, 30)}.{f.number(2, 250)}\nDB_PORT=3306\n"
        f"DB_DATABASE={app}_prod\nDB_USERNAME={app}\nDB_PASSWORD={f.word(20)}\n\n"
        "BROADCAST_DRIVER=log\nCACHE_DRIVER=redis\nQUEUE_CONNECTION=sqs\nSESSION_DRIVER=redis\n"
        f"REDIS_HOST=127.0.0.1\nREDIS_PASSWORD={f.word(24)}\nREDIS_PORT=6379\n\n"
        f"MAIL_MAILER=ses\nMAIL_FROM_ADDRESS=no-reply@{app}.example.com\n\n"
        f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\nAWS_DEFAULT_REGION={region}\n"
        f"AWS_BUCKET={app}-uploads-{f.number(1000, 9999)}\nAWS_USE_PATH_STYLE_ENDPOINT=false\n"
        f"SQS_PREFIX=https://sqs.{region}.amazonaws.com/{f.number(10**11, 10**12 - 1)}\n"
    )


def _aws_credentials(key_id: str, secret: str, f: Filler) -> str:
    return f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


def _config_json(key_id: str, secret: str, f: Filler) -> str:
    app, region = f.pick(_APPS), f.pick(_REGIONS)
    document = {
        "name": app, "env": "production", "port": 3000,
        "database": {"host": f"10.0.{f.number(1, 30)}.{f.number(2, 250)}", "port": 5432, "user": app,
                     "password": f.word(18), "name": f"{app}_prod"},
        "aws": {"accessKeyId": key_id, "secretAccessKey": secret, "region": region,
                "s3": {"bucket": f"{app}-assets-{f.number(1000, 9999)}"}},
        "session": {"secret": f.word(32), "maxAge": 86400},
    }
    return json.dumps(document, indent=2) + "\n"


def _git_config(key_id: str, secret: str, f: Filler) -> str:
    region, app = f.pick(_REGIONS), f.pick(_APPS)
    # CodeCommit over HTTPS with the key in the URL: wrong practice, which is why it leaks
    url = f"https://{key_id}:{quote(secret, safe='')}@git-codecommit.{region}.amazonaws.com/v1/repos/{app}"
    return (
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
        "\tlogallrefupdates = true\n"
        f'[remote "origin"]\n\turl = {url}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n'
        '[branch "main"]\n\tremote = origin\n\tmerge = refs/heads/main\n'
    )


def _wp_config(key_id: str, secret: str, f: Filler) -> str:
    app = f.pick(_APPS)
    salts = "".join(f"define( '{name}', '{f.word(64)}' );\n" for name in
                    ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY"))
    return (
        "<?php\n/** The base configuration for WordPress */\n\n"
        f"define( 'DB_NAME', 'wp_{app}' );\ndefine( 'DB_USER', 'wp_{app}' );\n"
        f"define( 'DB_PASSWORD', '{f.word(16)}' );\ndefine( 'DB_HOST', 'localhost' );\n"
        "define( 'DB_CHARSET', 'utf8mb4' );\ndefine( 'DB_COLLATE', '' );\n\n"
        f"{salts}\n"
        "/* WP Offload Media */\ndefine( 'AS3CF_SETTINGS', serialize( array(\n"
        "    'provider' => 'aws',\n"
        f"    'access-key-id' => '{key_id}',\n    'secret-access-key' => '{secret}',\n) ) );\n\n"
        "$table_prefix = 'wp_';\ndefine( 'WP_DEBUG', false );\n\n"
        "if ( ! defined( 'ABSPATH' ) ) {\n\tdefine( 'ABSPATH', __DIR__ . '/' );\n}\n"
        "require_once ABSPATH . 'wp-settings.php';\n"
    )


_BACKUP_SUFFIXES = (".bak", ".old", ".orig", ".save", ".swp", "~", ".backup", ".1", ".txt")
_ENV_NAMES = {".env", ".env.production", ".env.prod", ".env.local", ".env.live", ".env.dev"}
_TYPES: dict[Renderer, str] = {_env: "text/plain", _aws_credentials: "text/plain",
          _config_json: "application/json", _git_config: "text/plain", _wp_config: "text/plain"}


def _strip_backup(name: str) -> str:
    for suffix in _BACKUP_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def renderer_for(path: str, *, home: str = "/root") -> Renderer | None:
    """Which file ``path`` is (request path or shell path), or None when it is no bait."""
    clean = posixpath.normpath("/" + path.split("?", 1)[0].split("#", 1)[0].replace("\\", "/"))
    if clean.startswith("//"):
        clean = clean[1:]
    if clean.endswith("/.git/config"):
        return _git_config
    if clean.endswith("/.aws/credentials"):
        return _aws_credentials
    if clean.endswith("/.aws/config"):
        return None  # exists in the shell, but holds no key
    name = posixpath.basename(clean)
    base = _strip_backup(name)
    if name in _ENV_NAMES or base in _ENV_NAMES:
        return _env
    if base in ("wp-config.php",) and base != name:
        return _wp_config  # a live wp-config.php would run, never show; only its backups leak
    if base in ("config.json", "credentials.json", "secrets.json", "appsettings.json"):
        return _config_json
    return None


def is_bait(path: str) -> bool:
    return renderer_for(path) is not None


def render_for_path(path: str, key_id: str, secret: str, entropy: Entropy,
                    *, home: str = "/root") -> tuple[bytes, str] | None:
    renderer = renderer_for(path, home=home)
    if renderer is None:
        return None
    return renderer(key_id, secret, Filler(entropy)).encode(), _TYPES[renderer]
