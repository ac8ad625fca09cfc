/*
 * NGINX's OAuth 2.0 token introspection example (NGINX-Demos, oauth2-token-introspection-oss/oauth2.js, Copyright (C)
 * 2019 Nginx, Inc.) with the smallest changes that make it work with njs 0.7 and later and with any RFC 7662 server:
 *  - it stops after an error answer: the published script goes on, reads the error body as an introspection answer and
 *    answers 403 for a 401 from the server (so a wrong client secret looked like an inactive token);
 *  - client_secret_basic form-urlencodes the client id and secret before base64, as RFC 6749 section 2.3.1 says;
 *  - Buffer instead of String.prototype.toBytes(), reply.responseText instead of responseBody (both gone from njs);
 *  - the token is URL-encoded into the subrequest's arguments (and so into the form body, which is URL-encoded);
 *  - active must be the JSON boolean true (RFC 7662 section 2.2), not merely == true.
 * auth_request's contract: 204 active, 403 inactive, 401 when introspection failed (the error log says why).
 */
function introspectAccessToken(r) {
    var authHeader = "";
    if (r.variables.oauth_client_id.length) {
        var basicAuthPlaintext = encodeURIComponent(r.variables.oauth_client_id) + ":" + encodeURIComponent(r.variables.oauth_client_secret);
        authHeader = "Basic " + Buffer.from(basicAuthPlaintext).toString('base64');
    } else {
        authHeader = "Bearer " + r.variables.oauth_client_secret;
    }

    r.subrequest("/_oauth2_send_introspection_request",
        "token=" + encodeURIComponent(r.variables.access_token) + "&authorization=" + authHeader,
        function(reply) {
            if (reply.status != 200) {
                r.error("OAuth unexpected response from authorization server (HTTP " + reply.status + "). " + reply.responseText);
                r.return(401);
                return;
            }
            var response;
            try {
                response = JSON.parse(reply.responseText);
            } catch (e) {
                r.error("OAuth token introspection response is not JSON: " + reply.responseText);
                r.return(401);
                return;
            }
            if (response.active === true) {
                for (var p in response) {
                    if (!response.hasOwnProperty(p)) continue;
                    var v = response[p];
                    r.headersOut['token-' + p] = (typeof v === 'object') ? JSON.stringify(v) : String(v);
                }
                r.status = 204;
                r.sendHeader();
                r.finish();
            } else {
                r.warn("OAuth token introspection found inactive token");
                r.return(403);
            }
        }
    );
}

export default { introspectAccessToken }
