// The Tokens page's one script (served by the token service, no inline script anywhere): copying values through a
// same-origin POST that answers JSON (a value is never in the page's HTML, a URL or the history), the typed-phrase
// gate of the delete buttons, dialogs, the inline rename, the create form and the countdown of a replacement.
'use strict';
(function () {
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var status = document.getElementById('live-status');

  function say(text) {
    if (status) status.textContent = text;
  }

  /** POSTs form fields (with the CSRF token) and answers the JSON body, or throws an Error with the service's message. */
  function post(url, fields) {
    var body = new URLSearchParams(fields || {});
    body.set('_csrf', csrf);
    return fetch(url, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    }).then(function (r) {
      return r.json().then(
        function (json) {
          if (!r.ok) throw new Error((json && json.error && json.error.message) || 'the service refused (' + r.status + ')');
          return json;
        },
        function () {
          throw new Error('the service answered ' + r.status);
        },
      );
    });
  }

  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) return navigator.clipboard.writeText(text);
    return Promise.reject(new Error('this browser gives the page no clipboard'));
  }

  // ---- dialogs (delete) ---------------------------------------------------------------------------------------
  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target.closest('button') : null;
    if (!target) return;
    var open = target.getAttribute('data-open-dialog');
    if (open) {
      var dialog = document.getElementById(open);
      if (dialog && typeof dialog.showModal === 'function') {
        event.preventDefault();
        dialog.showModal();
      }
      return;
    }
    if (target.hasAttribute('data-close-dialog')) {
      var d = target.closest('dialog');
      if (d) d.close();
      return;
    }
    var toggle = target.getAttribute('data-toggle');
    if (toggle) {
      var panel = document.getElementById(toggle);
      if (!panel) return;
      event.preventDefault();
      var show = panel.hidden;
      panel.hidden = !show;
      target.setAttribute('aria-expanded', show ? 'true' : 'false');
      if (show) {
        var field = panel.querySelector('input:not([type="hidden"]), select');
        if (field) field.focus();
      }
      return;
    }
    var copyId = target.getAttribute('data-copy');
    if (copyId) {
      event.preventDefault();
      copyToken(target, copyId);
      return;
    }
    if (target.hasAttribute('data-copy-created')) {
      event.preventDefault();
      var value = document.getElementById('created-value');
      copyText(value ? value.value : '').then(
        function () {
          say('Copied the new token to the clipboard.');
        },
        function (e) {
          say('Could not copy: ' + e.message);
        },
      );
    }
  });

  // Every dialog gives its focus back to the button that opened it (the browser does for showModal).
  document.querySelectorAll('dialog').forEach(function (d) {
    d.addEventListener('close', function () {
      var form = d.querySelector('form');
      if (form) form.reset();
      d.querySelectorAll('[data-phrase-gate]').forEach(gate);
    });
  });

  // ---- the typed phrase: the Delete token button stays disabled until the exact phrase is typed ------------------
  function gate(input) {
    var button = document.getElementById(input.getAttribute('data-phrase-gate'));
    if (button) button.disabled = input.value !== input.getAttribute('data-phrase');
  }
  document.querySelectorAll('[data-phrase-gate]').forEach(function (input) {
    input.addEventListener('input', function () {
      gate(input);
    });
    gate(input);
  });

  // ---- copy: the value comes from a same-origin POST (recorded as a retrieval), straight to the clipboard ---------
  function copyToken(button, tokenId) {
    var name = button.getAttribute('data-name') || 'the token';
    var pendingUntil = button.getAttribute('data-pending-until');
    if (pendingUntil && button.getAttribute('data-warned') !== 'yes') {
      button.setAttribute('data-warned', 'yes');
      say(name + ' is pending until ' + pendingUntil + ' and is not usable yet. Press Copy again to copy it anyway.');
      return;
    }
    post('/tokens/' + encodeURIComponent(tokenId) + '/copy', {})
      .then(function (json) {
        var into = button.getAttribute('data-show-into');
        var shown = into ? document.getElementById(into) : null;
        if (shown) {
          shown.value = json.value;
          shown.hidden = false;
        }
        return copyText(json.value);
      })
      .then(
        function () {
          say('Copied ' + name + ' to the clipboard.');
        },
        function (e) {
          say('Could not copy ' + name + ': ' + e.message);
        },
      );
  }

  // ---- create: the value arrives as JSON and is shown once, with Copy and the pending note -----------------------
  var createForm = document.querySelector('form[data-create]');
  if (createForm) {
    createForm.addEventListener('submit', function (event) {
      event.preventDefault();
      var fields = {};
      new FormData(createForm).forEach(function (v, k) {
        if (k !== '_csrf') fields[k] = String(v);
      });
      var error = document.getElementById('create-error');
      if (error) error.textContent = '';
      post(createForm.getAttribute('action'), fields).then(
        function (json) {
          var panel = document.getElementById('created');
          document.getElementById('created-name').textContent = json.token.name;
          document.getElementById('created-pending').textContent = json.pendingUntil;
          document.getElementById('created-value').value = json.value;
          createForm.hidden = true;
          panel.hidden = false;
          var heading = document.getElementById('created-heading');
          if (heading) heading.focus();
          say('Created ' + json.token.name + '. Copy its value now.');
        },
        function (e) {
          if (error) error.textContent = 'Could not create the token: ' + e.message;
        },
      );
    });
  }

  // ---- Show deleted: a switch that reloads the page with or without deleted tokens ------------------------------
  document.querySelectorAll('input[data-autosubmit]').forEach(function (input) {
    input.addEventListener('change', function () {
      if (input.form) input.form.requestSubmit();
    });
  });

  // ---- the countdown of a replacement, on the service's clock -------------------------------------------------------
  var countdown = document.querySelector('[data-countdown-ms]');
  if (countdown) {
    var left = Number(countdown.getAttribute('data-countdown-ms'));
    var started = Date.now();
    var refreshAt = started + 10 * 60 * 1000;
    var tick = function () {
      var ms = left - (Date.now() - started);
      if (ms <= 0 || Date.now() >= refreshAt) {
        // Active now (or a periodic check, which also keeps the session alive during a long wait): ask the service.
        window.location.reload();
        return;
      }
      var s = Math.ceil(ms / 1000);
      var m = Math.floor(s / 60);
      countdown.textContent = m + ' min ' + String(s % 60).padStart(2, '0') + ' s';
      setTimeout(tick, 1000);
    };
    tick();
  }
})();
