"""Typed settings, loaded from YAML and validated at start.

A mistake gets a ConfigError naming the file, line and key. Nothing reads settings
from globals: each component is handed the part it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from honeyguard.errors import ConfigError
from honeyguard.yamlfile import load_yaml_file

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class _Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Limits(_Settings):
    """Caps that keep one hostile client from hurting the sensor or its other clients."""

    max_connections: Positive = 2048  # process-wide
    max_buffer_bytes: Positive = 65536  # unparsed input held for one connection (e.g. HTTP head)
    max_request_bytes: Positive = 8 * 1024 * 1024  # one HTTP body, hashed whole, then the connection is cut
    keep_body_bytes: Positive = 64 * 1024  # body bytes stored in the event
    idle_timeout: Seconds = 30.0
    session_timeout: Seconds = 300.0
    max_commands: Positive = 1000  # shell commands or HTTP requests per connection


class Listener(_Settings):
    service: str  # a module name under honeyguard.sensor.services
    port: Port  # the port attackers reach (recorded as dst_port)
    host: str = "127.0.0.1"
    bind_port: Port | None = None  # port map: bind here when ``port`` is privileged and we are not
    persona: str | None = None  # a persona id from the personas folders
    tls: bool = False


class LoginCredential(_Settings):
    username: str
    password: str


class SshSettings(_Settings):
    accept_after_attempts: Annotated[int, msgspec.Meta(ge=0)] = 3  # 0 = only listed credentials
    credentials: list[LoginCredential] = []
    hostname: str = "web01"


class CollectorLink(_Settings):
    url: str = "http://127.0.0.1:8470"
    token: str | None = None
    token_file: str | None = None
    batch_size: Positive = 1000
    flush_interval: Seconds = 0.5
    max_backoff: Seconds = 30.0
    ca_file: str | None = None  # https: verify the collector against this CA (or its own certificate)
    pin_sha256: str | None = None  # https: accept only the certificate with this SHA-256 (self-signed)


class NatsLink(_Settings):
    """NATS JetStream: ``sensor.nats`` publishes batches, ``server.nats`` consumes them (docs/collector.md)."""

    servers: list[str] = msgspec.field(default_factory=lambda: ["nats://127.0.0.1:4222"])
    stream: str = "HONEYGUARD_EVENTS"
    subject_prefix: str = "honeyguard.events"  # a sensor publishes on <prefix>.<sensor name>
    user: str | None = None
    password: str | None = None
    token: str | None = None
    nkey_seed_file: str | None = None  # an NKey seed file (SU...)
    credentials_file: str | None = None  # a .creds file (user JWT and seed)
    batch_size: Positive = 1000  # sensor: events per message (split further if over max_payload)
    flush_interval: Seconds = 0.5
    max_backoff: Seconds = 30.0
    durable: str = "honeyguard-collectors"  # collector: the pull consumer every collector shares
    fetch_batch: Positive = 8  # collector: messages asked for at once
    ack_wait: Seconds = 30.0  # collector: unacknowledged this long -> redelivered to any collector
    duplicate_window: Seconds = 120.0  # stream created by the collector: Nats-Msg-Id dedupe window
    max_bytes: Positive = 8 * 1024**3  # stream created by the collector: past this, publishes are refused
    max_age_days: Positive = 14


class HoneytokenSettings(_Settings):
    """Bait credential files with a distinct AWS honeytoken key per response (docs/creds.md)."""

    enabled: bool = False
    account_id: Annotated[str, msgspec.Meta(pattern=r"^\d{12}$")] = "418295730164"  # the decoy account


class SensorSettings(_Settings):
    name: str = "sensor-1"
    location: str = "local"
    listeners: list[Listener] = []
    limits: Limits = msgspec.field(default_factory=Limits)
    ssh: SshSettings = msgspec.field(default_factory=SshSettings)
    collector: CollectorLink | None = None
    nats: NatsLink | None = None  # when set, ships over NATS JetStream instead of HTTP
    persona_dirs: list[str] = []  # added to the built-in content/personas
    artifact_max_bytes: Positive = 32 * 1024 * 1024
    run_as: str | None = None  # drop privileges to this user after binding
    honeytokens: HoneytokenSettings = msgspec.field(default_factory=HoneytokenSettings)


class ServerTls(_Settings):
    """HTTPS for the collector: a certificate and key, or one generated under data_dir/tls (docs/collector.md)."""

    cert_file: str | None = None
    key_file: str | None = None
    self_signed: bool = False
    names: list[str] = []  # extra host names / addresses for the generated certificate's SAN


class ServerSettings(_Settings):
    host: str = "127.0.0.1"
    tls: ServerTls | None = None
    require_auth: bool | None = None  # reads need a token; default: yes unless bound to loopback
    port: Port = 8470
    events_db: str = "events.duckdb"  # relative to data_dir
    state_url: str | None = None  # SQLAlchemy URL; default sqlite in data_dir
    nats: NatsLink | None = None  # also consume sensor batches from NATS JetStream
    # events stored but not yet folded into indicators; past it, ingest answers 503 and sensors keep
    # their events in the spool and retry, so a burst costs delay, never unbounded memory
    defense_backlog: Positive = 200_000


class DetectSettings(_Settings):
    enabled: bool = True
    rule_dirs: list[str] = []  # added to the built-in content/rules


class AllowlistEntry(_Settings):
    value: str  # an IP, a CIDR or a domain
    reason: str
    expires: str | None = None  # ISO 8601 date or time; None = until removed


class MitigationSettings(_Settings):
    simulation: bool = False  # record decisions, publish nothing
    policy_file: str | None = None  # default: content/mitigation/policy.yaml
    org_ranges: list[str] = []  # your own address space: never blocked
    sensor_addresses: list[str] = []  # your sensors' public addresses: never blocked
    allowlist: list[AllowlistEntry] = []
    popular_domains_file: str | None = None  # a Tranco-style CSV "rank,domain"
    popular_domains_top: Positive = 100_000
    min_sensors_for_drop: Positive = 2  # corroboration: distinct sensors or sources
    blast_radius_limit: Positive = 25  # distinct internal hosts that talked to the value recently
    drops_per_hour: Positive = 500  # new drops; the rest become alerts
    max_share_of_24: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.25  # then it is a range decision


class CredsNotifySettings(_Settings):
    """Where exposure notices go (docs/creds.md, "Notifications"). Every channel is optional."""

    smtp_host: str | None = None
    smtp_port: Port = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password_env: str | None = None  # the name of an environment variable, never the password
    mail_from: str = "honeyguard@localhost"
    mail_to: list[str] = []
    webhook_url: str | None = None  # Slack-compatible JSON {"text", "blocks"}
    sns_topic_arn: str | None = None
    sns_endpoint_url: str | None = None
    template_dir: str | None = None  # overrides content/creds/templates file by file
    renotify_hours: Annotated[float, msgspec.Meta(ge=0)] = 168.0  # same key, same source: quiet this long


class CredsSettings(_Settings):
    """Credential protection (honeyguard creds ...)."""

    sts_endpoint_url: str | None = None  # STS for --verify; default: AWS_ENDPOINT_URL_STS, then AWS
    sts_region: str = "us-east-1"
    iam_endpoint_url: str | None = None  # IAM for quarantine; default: AWS_ENDPOINT_URL_IAM, then AWS
    decoy_accounts: list[str] = []  # honeytoken accounts: any use of their keys in CloudTrail is a hit
    notify: CredsNotifySettings = msgspec.field(default_factory=CredsNotifySettings)


class Settings(_Settings):
    data_dir: str = ".honeyguard"
    sensor: SensorSettings = msgspec.field(default_factory=SensorSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    detect: DetectSettings = msgspec.field(default_factory=DetectSettings)
    mitigate: MitigationSettings = msgspec.field(default_factory=MitigationSettings)
    creds: CredsSettings = msgspec.field(default_factory=CredsSettings)

    def path(self, name: str) -> Path:
        """A path under data_dir (absolute names pass through)."""
        candidate = Path(name)
        return candidate if candidate.is_absolute() else Path(self.data_dir) / candidate

    @property
    def state_url(self) -> str:
        return self.server.state_url or f"sqlite:///{self.path('state.sqlite')}"


DEFAULT_LISTENERS = [
    Listener(service="http", port=8080, persona="apache-ubuntu"),
    Listener(service="ssh", port=2222, persona="openssh-ubuntu-22.04"),
]


def default_settings(data_dir: str = ".honeyguard") -> Settings:
    """What ``make run`` uses: HTTP 8080, SSH 2222, collector 8470, all on 127.0.0.1."""
    return Settings(
        data_dir=data_dir,
        sensor=SensorSettings(listeners=list(DEFAULT_LISTENERS), collector=CollectorLink()),
    )


def load_settings(path: Path | None) -> Settings:
    """The settings in ``path``, or the defaults when no file is given."""
    if path is None:
        return default_settings()
    if not path.exists():
        raise ConfigError("no such file", file=str(path))
    settings = load_yaml_file(path, Settings, error=ConfigError)
    _check(settings, path)
    return settings


def _check(settings: Settings, path: Path) -> None:
    _check_tls(settings, path)
    seen: set[tuple[str, int]] = set()
    for index, listener in enumerate(settings.sensor.listeners):
        bound = (listener.host, listener.bind_port or listener.port)
        if bound in seen:
            raise ConfigError(f"port {bound[1]} on {bound[0]} is listed twice", file=str(path),
                              key=f"sensor.listeners[{index}].port")
        seen.add(bound)


def _check_tls(settings: Settings, path: Path) -> None:
    tls = settings.server.tls
    if tls is not None and tls.self_signed == bool(tls.cert_file or tls.key_file):
        raise ConfigError("give either cert_file and key_file, or self_signed: true", file=str(path),
                          key="server.tls")
    if tls is not None and not tls.self_signed and not (tls.cert_file and tls.key_file):
        raise ConfigError("cert_file and key_file go together", file=str(path), key="server.tls")
    link = settings.sensor.collector
    if link is None or not (link.ca_file or link.pin_sha256):
        return
    if not link.url.lower().startswith("https://"):
        raise ConfigError("ca_file and pin_sha256 need an https:// url", file=str(path), key="sensor.collector.url")
    if link.ca_file and link.pin_sha256:
        raise ConfigError("give ca_file or pin_sha256, not both", file=str(path), key="sensor.collector")
    if link.pin_sha256:
        from honeyguard.tlsutil import normalise_pin

        try:
            normalise_pin(link.pin_sha256)
        except ValueError as exc:
            raise ConfigError(str(exc), file=str(path), key="sensor.collector.pin_sha256") from None
