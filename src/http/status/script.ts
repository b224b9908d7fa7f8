// The page's script, served as a same-origin file (the CSP allows no inline script). Kept as
// a string module so the build needs no file copies. It does two things: copy buttons, and the
// "Check my access" form, which it sends to POST /explain as JSON. Answers are rendered with
// textContent only, so nothing an answer holds is ever parsed as HTML.

export const SCRIPT = `'use strict';
(function () {
  var status = document.getElementById('copy-status');

  function announce(text) {
    if (!status) return;
    status.textContent = '';
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on a non-local name: the clipboard API is missing, the old way still works.
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'visually-hidden';
    document.body.appendChild(area);
    area.select();
    var done = document.execCommand('copy');
    document.body.removeChild(area);
    return done ? Promise.resolve() : Promise.reject(new Error('copy refused'));
  }

  function copyButton(targetId, label) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'copy';
    button.setAttribute('data-copy', targetId);
    button.setAttribute('aria-label', 'Copy ' + label);
    button.textContent = 'Copy';
    return button;
  }

  document.addEventListener('click', function (event) {
    var button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
    if (!button) return;
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target) return;
    var label = (button.getAttribute('aria-label') || 'Copy').replace(/^Copy /, '');
    copyText(target.textContent).then(
      function () { button.textContent = 'Copied'; announce(label + ' copied'); window.setTimeout(function () { button.textContent = 'Copy'; }, 1500); },
      function () { announce('Copying failed: select the text and copy it by hand'); }
    );
  });

  var form = document.getElementById('explain-form');
  var result = document.getElementById('result');
  if (!form || !result) return;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showError(message) {
    result.replaceChildren(element('p', 'alert', message));
    result.firstChild.setAttribute('role', 'alert');
  }

  function who(identity) {
    if (!identity || identity.subject === '') return 'anonymous (no credential)';
    if (identity.kind === 'static') return identity.subject + ' (static account)';
    return identity.subject + ' (' + identity.kind + ' via ' + identity.source + ')';
  }

  function render(answer) {
    var parts = [element('h3', '', 'Access to ' + answer.repository)];
    if (answer.authenticated) {
      parts.push(element('p', '', 'Signed in as ' + who(answer.identity) + '.'));
      var list = element('ul', 'verdicts');
      list.id = 'verdicts';
      answer.verdicts.forEach(function (verdict) {
        var item = element('li', verdict.granted ? 'granted' : 'denied');
        item.setAttribute('data-action', verdict.action);
        item.appendChild(element('span', 'verdict', verdict.granted ? '\\u2713 ' + verdict.action + ' granted' : '\\u2717 ' + verdict.action + ' denied'));
        var reason = element('span', 'reason', verdict.reason);
        item.appendChild(reason);
        list.appendChild(item);
      });
      parts.push(list);
    } else {
      var failed = element('p', 'alert', 'Not signed in: ' + answer.message + '. Nothing was decided; check the username and the password or token.');
      failed.setAttribute('role', 'alert');
      parts.push(failed);
    }
    parts.push(element('p', '', 'Log in with (the password or token is read from standard input):'));
    var pre = element('pre');
    var code = element('code', '', answer.login);
    code.id = 'login-line';
    pre.appendChild(code);
    parts.push(pre, copyButton('login-line', 'docker login line'));
    result.replaceChildren.apply(result, parts);
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var submit = form.querySelector('button[type="submit"]');
    var body = JSON.stringify({
      username: form.elements.namedItem('username').value,
      password: form.elements.namedItem('password').value,
      image: form.elements.namedItem('image').value.trim()
    });
    if (JSON.parse(body).image === '') { showError('Name an image, e.g. group/project.'); return; }
    submit.disabled = true;
    result.setAttribute('aria-busy', 'true');
    fetch('explain', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: body, cache: 'no-store', credentials: 'omit' })
      .then(function (response) {
        return response.json().then(function (answer) {
          if (response.ok) render(answer);
          else showError((answer.errors && answer.errors[0] && answer.errors[0].message) || ('request failed with HTTP ' + response.status));
        }, function () { showError('request failed with HTTP ' + response.status); });
      }, function () { showError('forgegate could not be reached'); })
      .then(function () { submit.disabled = false; result.removeAttribute('aria-busy'); });
  });
})();
`;
