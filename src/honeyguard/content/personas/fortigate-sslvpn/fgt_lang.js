var fgt_lang = {
"sslvpn_login_permission_denied": "Permission denied.",
"sslvpn_portal_login": "Please Login",
"sslvpn_username": "Username",
"sslvpn_password": "Password",
"sslvpn_login": "Login",
"sslvpn_login_token": "Token",
"sslvpn_login_error": "Error: Please try to login again.",
"sslvpn_portal_launch_forticlient": "Launch FortiClient",
"sslvpn_portal_download_forticlient": "Download FortiClient"
};
