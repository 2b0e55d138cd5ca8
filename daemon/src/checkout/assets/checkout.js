// paywatch checkout page: live status (Server-Sent Events, else polling every 10 s), method
// switch, copy buttons, countdown. The page works without it (links, refresh); strings come
// from the page's #strings JSON block and data only ever reaches the DOM as text.
(function () {
  'use strict';
  var doc = document;
  doc.documentElement.classList.add('js');
  var root = doc.getElementById('checkout');
  if (!root) return;

  var strings = {};
  try { strings = JSON.parse(doc.getElementById('strings').textContent) || {}; } catch (e) { strings = {}; }
  function t(key) { return typeof strings[key] === 'string' ? strings[key] : ''; }

  // States with something left to pay: only then are the methods and the countdown shown
  // (paid in full and waiting for confirmations, a code scanned would pay twice).
  var TAKES_PAYMENT = { awaiting: true, underpaid: true };
  // States the customer is done with: the live status stops there (a stream held open for a
  // finished invoice would only hold a connection of the shop's daemon). Not `expired`: a
  // late payment is still shown (paid_late) during the invoice's monitoring window.
  var FINAL = { paid: true, paid_late: true, cancelled: true };
  var source = null, polling = null;
  var id = root.getAttribute('data-invoice') || '';
  // Relative to the page (/…/i/ID), as every link of it: the pages may live under a path.
  var base = '../i/' + encodeURIComponent(id);
  var stateEl = doc.getElementById('state');
  var version = Number(root.getAttribute('data-version')) || 0;
  var redirecting = false;

  function httpUrl(u) { return typeof u === 'string' && /^https?:\/\/[^\/\s]/i.test(u) && !/[\s\x00-\x1f\x7f]/.test(u) ? u : ''; }
  function walletUri(u) {
    return typeof u === 'string' && /^[a-z][a-z0-9+.\-]*:/i.test(u) &&
      !/^(javascript|data|vbscript|file|blob|filesystem):/i.test(u) && !/[\x00-\x1f\x7f]/.test(u) ? u : '';
  }
  function str(v) { return v === undefined || v === null ? '' : String(v); }
  function fillText(template, values) {
    return template.replace(/\{([a-z0-9_]+)\}/g, function (_, k) { return str(values[k]); });
  }
  // Replaces el's content with template filled from values, {confirmations} in its own span.
  function fillNodes(el, template, values) {
    while (el.firstChild) el.removeChild(el.firstChild);
    var parts = template.split(/\{([a-z0-9_]+)\}/);
    for (var i = 0; i < parts.length; i++) {
      if (i % 2 === 0) {
        if (parts[i]) el.appendChild(doc.createTextNode(parts[i]));
      } else if (parts[i] === 'confirmations') {
        var span = doc.createElement('span');
        span.id = 'confirmations';
        span.textContent = str(values.confirmations);
        el.appendChild(span);
      } else {
        el.appendChild(doc.createTextNode(str(values[parts[i]])));
      }
    }
  }
  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }
  function setAttr(el, name, value) { if (el && value && el.getAttribute(name) !== value) el.setAttribute(name, value); }
  function show(elId, shown) { var el = doc.getElementById(elId); if (el) el.hidden = !shown; }

  function apply(s) {
    if (!s || typeof s !== 'object' || typeof s.version !== 'number' || s.version <= version) return;
    version = s.version;
    root.setAttribute('data-version', String(version));
    var state = str(s.state);
    var template = t('state.' + state);
    var values = {
      confirmations: s.confirmations, required: s.required_confirmations, due: s.due, currency: s.currency,
      paid: s.paid, amount: s.amount
    };
    if (stateEl && template && (stateEl.getAttribute('data-state') !== state || stateEl.textContent !== fillText(template, values))) {
      root.setAttribute('data-state', state);
      stateEl.setAttribute('data-state', state);
      fillNodes(stateEl, template, values);
      stateEl.setAttribute('data-changed-at', String(Date.now()));
    }
    var methods = Array.isArray(s.methods) ? s.methods : [];
    for (var n = 0; n < methods.length; n++) {
      var m = methods[n] || {}, panel = doc.getElementById('method-' + n);
      if (!panel) continue;
      setText(panel.querySelector('.amount'), str(m.amount_due) + ' ' + str(m.asset));
      setAttr(panel.querySelector('.copy-amount'), 'data-copy', str(m.amount_due));
      setText(panel.querySelector('.address'), str(m.address));
      setAttr(panel.querySelector('.copy-address'), 'data-copy', str(m.address));
      var qr = str(m.qr);
      var img = panel.querySelector('img.qr');
      if (qr.indexOf('/i/') === 0) setAttr(img, 'src', '..' + qr);
      setAttr(img, 'alt', fillText(t('page.qr_alt'), { amount: m.amount_due, asset: m.asset }));
      setAttr(panel.querySelector('a.open-wallet'), 'href', walletUri(m.payment_uri));
    }
    if (FINAL[state] === true) {
      if (source) { source.close(); source = null; }
      if (polling !== null) { clearInterval(polling); polling = null; }
    }
    var takesPayment = TAKES_PAYMENT[state] === true;
    show('pay', takesPayment);
    show('countdown', takesPayment);
    var redirect = httpUrl(s.redirect_url) || httpUrl(root.getAttribute('data-redirect'));
    show('returning', state === 'paid' && !!redirect);
    if (state === 'paid' && redirect && !redirecting) {
      redirecting = true;
      setTimeout(function () { window.location.assign(redirect); }, 3000);
    }
  }
  function onJson(text) {
    var s;
    try { s = JSON.parse(text); } catch (e) { return; }
    apply(s);
  }

  // Live status: the event stream; after repeated errors (or without EventSource), polling.
  function poll() {
    if (!window.fetch) return;
    fetch(base + '/status', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : ''; })
      .then(function (text) { if (text) onJson(text); })
      .catch(function () {});
  }
  function startPolling() {
    if (polling === null && FINAL[root.getAttribute('data-state')] !== true) {
      polling = setInterval(poll, 10000);
      poll();
    }
  }
  if (FINAL[root.getAttribute('data-state')] === true) {
    // Rendered final: nothing more will happen (a reload shows any later change).
  } else if (window.EventSource) {
    var errors = 0;
    source = new EventSource(base + '/events');
    source.addEventListener('status', function (e) { errors = 0; onJson(e.data); });
    source.onerror = function () {
      errors += 1;
      if (source && (errors >= 3 || source.readyState === EventSource.CLOSED)) {
        source.close();
        source = null;
        startPolling();
      }
    };
  } else {
    startPolling();
  }

  // Method switch: the links work without script; with it, no reload.
  var tabs = Array.prototype.slice.call(doc.querySelectorAll('#methods a.method'));
  function select(tab, focus) {
    var n = tab.getAttribute('data-method');
    tabs.forEach(function (a) {
      var on = a === tab;
      if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
      var panel = doc.getElementById('method-' + a.getAttribute('data-method'));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
    Array.prototype.forEach.call(doc.querySelectorAll('#lang a[hreflang]'), function (a) {
      a.setAttribute('href', '?lang=' + encodeURIComponent(a.getAttribute('hreflang')) + '&method=' + n);
    });
    try {
      var url = new URL(window.location.href);
      url.searchParams.set('method', n);
      window.history.replaceState(null, '', url.pathname + url.search + url.hash);
    } catch (e) { /* an old browser: the address bar keeps the old method */ }
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener('click', function (e) {
      if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      select(tab, false);
    });
    tab.addEventListener('keydown', function (e) {
      var to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length], true);
    });
  });

  // Copy buttons (shown only with script, and hidden again without a clipboard).
  Array.prototype.forEach.call(doc.querySelectorAll('button.copy'), function (b) {
    if (!navigator.clipboard) { b.hidden = true; return; }
    var label = b.textContent;
    var timer = null;
    b.addEventListener('click', function () {
      navigator.clipboard.writeText(b.getAttribute('data-copy') || '').then(function () {
        b.textContent = t('page.copied') || label;
        clearTimeout(timer);
        timer = setTimeout(function () { b.textContent = label; }, 2000);
      }, function () {});
    });
  });

  // Countdown from the seconds left at load, on the page's monotonic clock.
  var countdown = doc.getElementById('countdown');
  var expiresIn = parseInt(root.getAttribute('data-expires-in'), 10) || 0;
  var start = performance.now();
  function two(n) { return (n < 10 ? '0' : '') + n; }
  function clock(secs) {
    var h = Math.floor(secs / 3600), m = Math.floor(secs % 3600 / 60), s = secs % 60;
    return h > 0 ? h + ':' + two(m) + ':' + two(s) : two(m) + ':' + two(s);
  }
  function tick() {
    var elapsed = performance.now() - start;
    var left = Math.max(0, expiresIn - Math.floor(elapsed / 1000));
    setText(countdown, left > 0 ? fillText(t('page.expires_in'), { time: clock(left) }) : t('page.expired'));
    if (left > 0) setTimeout(tick, 1000 - (elapsed % 1000) + 5);
  }
  if (countdown) tick();
})();
