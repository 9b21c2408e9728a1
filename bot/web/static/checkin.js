// The full-screen check-in screen. The code changes every minute: ask for the current one every
// few seconds, and reload (for the new QR code) when it has changed. The server checks the
// session, the role and the scope on every one of these requests: when it refuses (logged out,
// demoted, moved to another branch, the event cancelled or check-in closed), the screen stops
// showing a code at once and reloads, which shows why.
"use strict";
(function () {
  const body = document.body;
  const api = body.dataset.api;
  let timer = null;

  function refused() {
    clearInterval(timer);
    document.getElementById("qr").replaceChildren();
    document.getElementById("code").textContent = "";
    document.getElementById("until").textContent = "";
    location.reload();
  }

  async function refresh() {
    let response;
    try {
      response = await fetch(api, { credentials: "same-origin", cache: "no-store" });
    } catch (error) {
      return; // the network: try again at the next tick
    }
    if (response.ok) {
      const data = await response.json();
      document.getElementById("code").textContent = data.code;
      document.getElementById("until").textContent = data.valid_until;
      if (data.code !== body.dataset.code) {
        location.reload();
      }
    } else if (response.status < 500) {
      refused();
    }
  }

  timer = setInterval(refresh, 5000);
})();
