-- portal include: session and language helpers
local PORTAL_VERSION = "9.12(2)"
local function get_lang(req)
  local lang = req.cookie["webvpnLang"] or "en"
  return lang
end
function CSCO_WebVPN_portal_header(req)
  return "<div id=\"portal-header\">SSL VPN Service</div>"
end
return { get_lang = get_lang, version = PORTAL_VERSION }
