// The Tokens page's one script (served by the token service, no inline script anywhere). Every form works without
// it; with it, the forms are sent with fetch (Accept: application/json) so that a refusal is shown at the field
// that caused it with what was typed kept, and a change swaps in the list as the service renders it. Values come
// only from same-origin POSTs that answer JSON (never in the page's HTML, a URL or the history). Feedback appears
// next to the button pressed, and is announced.
'use strict';
(function () {
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';
  var live = document.getElementById('live-status');
  // The part of the page a change swaps in: the list of tokens, or of webhook endpoints.
  var region = document.querySelector('[data-region]');

  /** Says `text` to screen readers (the polite live region), also when it is the same text as before. */
  function announce(text) {
    if (!live) return;
    live.textContent = '';
    window.requestAnimationFrame(function () {
      live.textContent = text;
    });
  }

  function showDeleted() {
    return region && region.getAttribute('data-show-deleted') === '1';
  }

  /** POSTs fields (with the CSRF token); resolves to the JSON answer, or rejects with {message, field} from the service. */
  function post(url, fields) {
    var body = new URLSearchParams(fields || {});
    body.set('_csrf', csrf);
    if (showDeleted()) body.set('_deleted', '1');
    return fetch(url, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    }).then(
      function (r) {
        return r.json().then(
          function (json) {
            if (!r.ok) throw { message: (json && json.error && json.error.message) || 'The service refused (' + r.status + ').', field: json && json.error && json.error.field };
            return json;
          },
          function () {
            throw { message: 'The service answered ' + r.status + '.' };
          },
        );
      },
      function () {
        throw { message: 'The token service cannot be reached. Check the connection and try again.' };
      },
    );
  }

  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) return navigator.clipboard.writeText(text);
    return Promise.reject({ message: 'This browser gives the page no clipboard.' });
  }

  // ---- feedback next to the button pressed ----------------------------------------------------------------------
  var bubbleTimers = {};
  /**
   * Shows `text` in the bubble `id` (a live region beside the buttons), just below `button`: starting at its left edge,
   * or ending at its right edge when there is no room, always inside the viewport. `kind`: '' (done), 'warn' or 'error'.
   */
  function bubble(id, text, kind, sticky, button) {
    var el = document.getElementById(id);
    if (!el) {
      announce(text);
      return;
    }
    clearTimeout(bubbleTimers[id]);
    el.className = 'bubble' + (kind ? ' ' + kind : '') + (sticky ? ' sticky' : '');
    el.textContent = text;
    var holder = el.offsetParent;
    if (button && holder && getComputedStyle(el).position === 'absolute') {
      var margin = 8;
      var vw = document.documentElement.clientWidth;
      var h = holder.getBoundingClientRect();
      var b = button.getBoundingClientRect();
      var width = el.getBoundingClientRect().width;
      var left = b.left;
      if (left + width > vw - margin) left = b.right - width;
      if (left < margin) left = margin;
      el.style.right = 'auto';
      el.style.left = left - h.left + 'px';
      // Below the button, or above it when the viewport ends first; scrolled into view if neither fits.
      el.style.top = '';
      el.style.bottom = '';
      var r = el.getBoundingClientRect();
      if (r.bottom > window.innerHeight - margin && b.top - r.height - 6 >= margin) {
        el.style.top = 'auto';
        el.style.bottom = h.bottom - b.top + 6 + 'px';
      } else if (r.bottom > window.innerHeight - margin) {
        el.scrollIntoView({ block: 'nearest' });
      }
    }
    if (!sticky) {
      bubbleTimers[id] = setTimeout(function () {
        el.textContent = '';
      }, 4000);
    }
  }
  function clearBubbles(except) {
    document.querySelectorAll('.bubble').forEach(function (el) {
      if (el.id === except || !el.textContent) return;
      clearTimeout(bubbleTimers[el.id]);
      el.textContent = '';
      el.className = 'bubble';
      // A pending token's Copy asks again after its explanation was dismissed.
      var copy = document.getElementById(el.id.replace(/^feedback-/, 'copy-'));
      if (copy) copy.removeAttribute('data-warned');
    });
  }

  // ---- dialogs: opened as modal, closed with Escape, Cancel or Done; focus back where it came from ---------------
  function openDialog(dialog, opener) {
    if (!dialog || typeof dialog.showModal !== 'function') return false;
    if (opener && opener.id) dialog.setAttribute('data-return-to', opener.id);
    if (dialog.open) dialog.close();
    dialog.showModal();
    return true;
  }

  function clearErrors(form) {
    form.querySelectorAll('[data-error-for]').forEach(function (el) {
      el.textContent = '';
    });
    form.querySelectorAll('[aria-invalid]').forEach(function (el) {
      el.removeAttribute('aria-invalid');
    });
  }

  function showError(form, error) {
    var into = form.getAttribute('data-error-into');
    if (into) {
      clearBubbles(into);
      bubble(into, error.message, 'error', true, form.querySelector('button'));
      return;
    }
    var name = error.field || '';
    var holder = form.querySelector('[data-error-for="' + name + '"]') || form.querySelector('[data-error-for]');
    if (holder) holder.textContent = error.message;
    var input = name && form.elements.namedItem(name);
    if (input && input.focus) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } else {
      announce(error.message);
    }
  }

  /** The list after a change, as the service rendered it; `create`: the create form's new offer, for its next use. */
  var nextCreateForm = null;
  function swapList(json) {
    if (json.html && json.html.region && region) region.innerHTML = json.html.region;
    if (json.html && json.html.create) nextCreateForm = json.html.create;
    gateAll();
  }

  function resetCreateDialog() {
    var step = document.getElementById('create-step');
    var created = document.getElementById('created');
    if (step && nextCreateForm) {
      step.innerHTML = nextCreateForm;
      nextCreateForm = null;
    }
    if (step) step.hidden = false;
    if (created) created.hidden = true;
    var value = document.getElementById('created-value');
    if (value) value.value = '';
    var form = document.getElementById('create-form');
    if (form) {
      form.reset();
      clearErrors(form);
    }
  }

  /**
   * Fills a dialog from the button that opens it: its form's action (data-action), each [data-slot] from the button's
   * data-slot-<name> (a [data-slot-box] is hidden when its slots are empty), each [data-fill] field likewise.
   */
  function fillDialog(dialog, button) {
    if (!dialog) return null;
    var form = dialog.querySelector('form');
    var value = function (name) {
      return button.getAttribute('data-slot-' + name) || '';
    };
    if (form && button.hasAttribute('data-action')) form.setAttribute('action', button.getAttribute('data-action'));
    dialog.querySelectorAll('[data-slot]').forEach(function (el) {
      el.textContent = value(el.getAttribute('data-slot'));
    });
    dialog.querySelectorAll('[data-slot-box]').forEach(function (box) {
      box.hidden = !Array.prototype.some.call(box.querySelectorAll('[data-slot]'), function (el) {
        return el.textContent !== '';
      });
    });
    dialog.querySelectorAll('[data-fill]').forEach(function (input) {
      input.value = value(input.getAttribute('data-fill'));
      input.defaultValue = input.value;
    });
    if (form) clearErrors(form);
    return dialog;
  }

  document.addEventListener(
    'close',
    function (event) {
      var dialog = event.target;
      if (!(dialog instanceof HTMLDialogElement)) return;
      if (dialog.hasAttribute('data-reopening')) {
        dialog.removeAttribute('data-reopening');
        return;
      }
      dialog.querySelectorAll('form').forEach(function (form) {
        if (form.id === 'create-form') return;
        form.reset();
        clearErrors(form);
      });
      if (dialog.id === 'create-dialog') resetCreateDialog();
      gateAll();
      var back = document.getElementById(dialog.getAttribute('data-return-to') || '');
      if (back) back.focus();
      // A form the server opened (a link, or a refusal without JavaScript) is not opened again by a reload.
      if (window.location.search) window.history.replaceState(null, '', window.location.pathname + (showDeleted() ? '?deleted=1' : ''));
    },
    true,
  );

  // ---- clicks -------------------------------------------------------------------------------------------------------
  document.addEventListener('click', function (event) {
    var target = event.target instanceof Element ? event.target.closest('button, a') : null;
    if (!target || !target.closest('.bubble')) clearBubbles(target && target.hasAttribute('data-copy') ? 'feedback-' + target.getAttribute('data-copy') : '');
    if (!target) return;
    if (target.hasAttribute('data-open-create')) {
      event.preventDefault();
      resetCreateDialog();
      openDialog(document.getElementById('create-dialog'), target);
      return;
    }
    var dialogId = target.getAttribute('data-dialog');
    if (dialogId) {
      event.preventDefault();
      var dialog = fillDialog(document.getElementById(dialogId), target);
      if (openDialog(dialog, target)) {
        gateAll();
        // A field filled from the row (the name to rename) is selected: typing replaces it.
        var fill = dialog.querySelector('[data-fill]');
        if (fill) fill.select();
      }
      return;
    }
    if (target.name === 'cancel' && target.closest('dialog')) {
      event.preventDefault();
      target.closest('dialog').close();
      return;
    }
    if (target.hasAttribute('data-close-dialog')) {
      var d = target.closest('dialog');
      if (d) d.close();
      return;
    }
    var copyId = target.getAttribute('data-copy');
    if (copyId) {
      event.preventDefault();
      copyToken(target, copyId);
      return;
    }
    if (target.hasAttribute('data-copy-created')) {
      // What is shown once (a created token's value, a webhook's secret): copied from its box, <name>-value.
      event.preventDefault();
      var shown = target.getAttribute('data-copy-created') || 'created';
      var value = document.getElementById(shown + '-value');
      copyText(value ? value.value : '').then(
        function () {
          bubble('feedback-' + shown, 'Copied to the clipboard', '', false);
        },
        function (e) {
          bubble('feedback-' + shown, 'Not copied: ' + e.message, 'error', true);
        },
      );
    }
  });

  // Escape hides a tooltip or a bubble (WCAG 1.4.13: content shown on hover or focus can be dismissed).
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') return;
    document.body.classList.add('tips-off');
    clearBubbles('');
  });
  ['mousemove', 'focusin'].forEach(function (type) {
    document.addEventListener(type, function () {
      document.body.classList.remove('tips-off');
    });
  });

  // ---- the typed phrase: Delete token stays disabled until the exact phrase is typed (the service checks it again) --
  function gate(input) {
    var button = document.getElementById(input.getAttribute('data-phrase-gate'));
    if (button) button.disabled = input.value !== input.getAttribute('data-phrase');
  }
  function gateAll() {
    document.querySelectorAll('[data-phrase-gate]').forEach(gate);
  }
  document.addEventListener('input', function (event) {
    var input = event.target;
    if (input instanceof HTMLInputElement && input.hasAttribute('data-phrase-gate')) gate(input);
    if (input instanceof Element && input.getAttribute('aria-invalid') === 'true') input.removeAttribute('aria-invalid');
  });

  // ---- copy: the value comes from a same-origin POST (recorded as a retrieval), straight to the clipboard ---------
  function copyToken(button, tokenId) {
    var row = button.closest('tr');
    var label = row && row.querySelector('.name');
    var name = button.getAttribute('data-name') || (label ? label.textContent : 'the token');
    var feedback = 'feedback-' + tokenId;
    var pending = button.getAttribute('data-pending');
    if (pending && button.getAttribute('data-warned') !== 'yes') {
      // Nothing is copied (and nothing recorded) on the first press of a pending token: the page says why, beside it.
      button.setAttribute('data-warned', 'yes');
      bubble(feedback, pending + ' Press Copy again to copy it anyway.', 'warn', true, button);
      return;
    }
    button.removeAttribute('data-warned');
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
          bubble(feedback, 'Copied ' + name + (pending ? ' (not usable until it is active)' : ''), '', false, button);
        },
        function (e) {
          bubble(feedback, 'Not copied: ' + e.message, 'error', true, button);
        },
      );
  }

  // ---- forms sent with fetch: create, rename, delete, replace ----------------------------------------------------
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-fetch')) return;
    var submitter = event.submitter;
    if (submitter && submitter.name === 'cancel') return;
    event.preventDefault();
    var kind = form.getAttribute('data-fetch');
    // As pairs: a field may repeat (a webhook's events).
    var fields = [];
    new FormData(form).forEach(function (v, k) {
      if (k !== '_csrf' && k !== '_deleted') fields.push([k, String(v)]);
    });
    clearErrors(form);
    var buttons = form.querySelectorAll('button[type="submit"]:not([name="cancel"])');
    buttons.forEach(function (b) {
      b.disabled = true;
    });
    var done = function () {
      buttons.forEach(function (b) {
        b.disabled = false;
      });
      gateAll();
    };
    post(form.getAttribute('action'), fields).then(
      function (json) {
        done();
        if (json.location) {
          window.location.assign(json.location);
          return;
        }
        var dialog = form.closest('dialog');
        if (kind === 'create') {
          swapList(json);
          showCreated(json);
          return;
        }
        if (kind === 'webhook') {
          swapList(json);
          form.reset();
          showSecret(json);
          return;
        }
        if (kind === 'rename') {
          var id = json.token.id;
          swapList(json);
          if (dialog) {
            dialog.setAttribute('data-return-to', 'rename-' + id);
            dialog.close();
          }
          bubble('feedback-' + id, json.notice, '', false, document.getElementById('rename-' + id));
          return;
        }
        if (kind === 'delete') {
          if (dialog) dialog.removeAttribute('data-return-to');
          if (dialog) dialog.close();
          swapList(json);
          // The focus goes to what the deletion did (its row is gone); being focused, it is read out.
          var notice = document.getElementById('list-notice');
          if (notice) notice.focus();
          else announce(json.notice);
        }
      },
      function (error) {
        done();
        showError(form, error);
      },
    );
  });

  /** The created token: its value once, in the box, with its own Copy button; the list behind it is already current. */
  function showCreated(json) {
    var step = document.getElementById('create-step');
    var created = document.getElementById('created');
    document.getElementById('created-name').textContent = json.token.name;
    document.getElementById('created-pending').textContent = json.pendingNote;
    var value = document.getElementById('created-value');
    value.value = json.value;
    if (step) step.hidden = true;
    created.hidden = false;
    var heading = document.getElementById('created-heading') || document.getElementById('created-h');
    if (heading) heading.focus();
    announce('Created ' + json.token.name + '. Its value is shown once; copy it now.');
  }

  /** A webhook endpoint just added: its secret once, in the box with its own Copy; the list above it already current. */
  function showSecret(json) {
    document.getElementById('secret-value').value = json.secret;
    document.getElementById('secret-url').textContent = json.webhook.url;
    document.getElementById('secret').hidden = false;
    document.getElementById('secret-h').focus();
    announce(json.notice + ' Its secret is shown once; copy it now.');
  }

  // ---- Show deleted: a switch that reloads the list with or without deleted tokens ------------------------------
  document.addEventListener('change', function (event) {
    var input = event.target;
    if (input instanceof HTMLInputElement && input.hasAttribute('data-autosubmit') && input.form) input.form.requestSubmit();
  });

  // ---- on load: the phrase gates; a dialog the server opened becomes modal; the countdown of a replacement ---------
  gateAll();
  document.querySelectorAll('dialog[open]').forEach(function (dialog) {
    dialog.setAttribute('data-reopening', '');
    dialog.close();
    dialog.showModal();
  });

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
