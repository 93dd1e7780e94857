/*
 * The Whop emulator's stand-in for Whop's elements loader
 * (https://apollo.elements.whop.com/release/elements.js, docs/whop-contract.md §9.2).
 *
 * It defines `window.WhopElements` with the surface that @whop/embedded-components-vanilla-js
 * and -react-js 1.2.0 use for payouts:
 *
 *   new WhopElements({environment, locale, appearance})      .updateOptions() .options
 *     (appearance.theme.appearance "light" or "dark" is honoured, and changes with updateOptions)
 *     .createPayoutsSession({token, companyId, redirectUrl, currency})
 *       events: ready, error, tokenRefreshed, tokenRefreshError, optionsUpdated
 *       .updateOptions() .destroy()
 *       .createElement(type | {type}, options)   (the React package passes its component)
 *         .mount(HTMLElement | "#id") .unmount() .updateOptions() .getSnapshot() .state
 *         events: ready, error, snapshot, optionsUpdated, and each element's own
 *
 * Elements: status-banner-element, verify-element, balance-element,
 * withdraw-button-element, withdraw-element, withdrawals-element. Their data comes from the
 * emulator's ledger through /_whop/elements/api, authorised by the session's access token.
 * A token *function* is called with {abortSignal} and again before the token expires (the
 * API says how long it has left; Whop's JWTs carry `exp`). A plain string token is used
 * until it expires, as Whop documents.
 *
 * Content-Security-Policy: no eval, no inline script, no inline style. Everything is built
 * with DOM calls and styled by classes from elements.css, linked from this script's origin.
 * Modal helpers (showWithdrawModal, …) and chat/wallet sessions are not emulated.
 */
(function () {
  "use strict";

  if (window.WhopElements) {
    return;
  }

  const loader =
    document.currentScript ||
    Array.from(document.scripts).find((s) => /\/elements\.js(\?|$)/.test(s.src));
  const BASE = new URL(".", loader ? loader.src : window.location.href);
  const API = new URL("elements/api/", BASE);
  const STYLESHEET = new URL("elements.css", BASE).href;
  const ENVIRONMENTS = ["production", "sandbox"];
  const RETRY_MS = [2000, 5000, 15000, 60000]; // after a failed start or refresh

  // --- small helpers ------------------------------------------------------------------------

  function linkStylesheet() {
    if (document.querySelector("link[data-whop-elements]")) {
      return;
    }
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = STYLESHEET;
    link.setAttribute("data-whop-elements", "");
    (document.head || document.documentElement).appendChild(link);
  }

  // Whop's `appearance.theme.appearance`: "light" (the default) or "dark".
  function appearanceOf(whop) {
    const theme = (whop.options.appearance || {}).theme || {};
    return theme.appearance === "dark" ? "dark" : "light";
  }

  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) {
      el.className = className;
    }
    if (text !== undefined) {
      el.textContent = text;
    }
    return el;
  }

  function button(label, className, onClick) {
    const el = node("button", "whop-el-button " + (className || ""), label);
    el.type = "button";
    el.addEventListener("click", onClick);
    return el;
  }

  function defined(object) {
    const out = {};
    for (const [key, value] of Object.entries(object || {})) {
      if (value !== undefined) {
        out[key] = value;
      }
    }
    return out;
  }

  function sameValues(a, b) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      if (a[key] !== b[key]) {
        return false;
      }
    }
    return true;
  }

  function isAbort(error) {
    return error && error.name === "AbortError";
  }

  function rethrowLater(error) {
    // A listener's bug must surface (as an uncaught error) without breaking the others.
    setTimeout(() => {
      throw error;
    });
  }

  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function handlerName(event) {
    return "on" + event.charAt(0).toUpperCase() + event.slice(1);
  }

  class WhopElementError extends Error {
    constructor(code, message, status) {
      super(message);
      this.name = "WhopElementError";
      this.code = code;
      this.status = status;
    }
  }

  class Emitter {
    constructor() {
      this._listeners = new Map();
    }

    on(event, listener) {
      if (typeof listener !== "function") {
        throw new TypeError("The listener for “" + event + "” must be a function");
      }
      if (!this._listeners.has(event)) {
        this._listeners.set(event, new Set());
      }
      this._listeners.get(event).add(listener);
      return this;
    }

    addListener(event, listener) {
      return this.on(event, listener);
    }

    once(event, listener) {
      const wrapper = (...args) => {
        this.off(event, wrapper);
        listener.apply(this, args);
      };
      wrapper.listener = listener;
      return this.on(event, wrapper);
    }

    off(event, listener) {
      const listeners = this._listeners.get(event);
      if (listeners) {
        for (const registered of Array.from(listeners)) {
          if (registered === listener || registered.listener === listener) {
            listeners.delete(registered);
          }
        }
      }
      return this;
    }

    removeListener(event, listener) {
      return this.off(event, listener);
    }

    removeAllListeners(event) {
      if (event === undefined) {
        this._listeners.clear();
      } else {
        this._listeners.delete(event);
      }
      return this;
    }

    listenerCount(event) {
      const listeners = this._listeners.get(event);
      return listeners ? listeners.size : 0;
    }

    emit(event, ...args) {
      const listeners = this._listeners.get(event);
      if (!listeners || listeners.size === 0) {
        return false;
      }
      for (const listener of Array.from(listeners)) {
        try {
          listener.apply(this, args);
        } catch (error) {
          rethrowLater(error);
        }
      }
      return true;
    }
  }

  // --- money and dates ----------------------------------------------------------------------

  function currencyFormat(locale, currency) {
    return new Intl.NumberFormat(locale, { style: "currency", currency: currency.toUpperCase() });
  }

  function formatMoney(locale, currency, amount) {
    return currencyFormat(locale, currency).format(amount);
  }

  function formatDate(locale, iso) {
    return new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
  }

  // --- elements -----------------------------------------------------------------------------

  class PayoutsElement extends Emitter {
    constructor(session, type, options) {
      super();
      this._session = session;
      this.type = type;
      this.options = { ...options };
      this.state = "loading";
      this._snapshot = Object.freeze({ state: "loading", ...this.initialSnapshot() });
      this._root = null;
      this._rendered = null;
    }

    initialSnapshot() {
      return {};
    }

    mount(target) {
      if (this._root) {
        console.warn("[WhopElements] " + this.type + " is already mounted");
        return;
      }
      const container = typeof target === "string" ? document.querySelector(target) : target;
      if (!(container instanceof HTMLElement)) {
        throw new Error("Cannot mount " + this.type + ": no element matches " + String(target));
      }
      this._root = node("div", "whop-el whop-el--" + this.type);
      this._root.setAttribute("data-whop-element", this.type);
      container.appendChild(this._root);
      this._session._attach(this);
      this.render();
    }

    unmount() {
      if (!this._root) {
        return;
      }
      this._root.remove();
      this._root = null;
      this._rendered = null;
      this._session._detach(this);
    }

    updateOptions(options) {
      this.options = { ...this.options, ...defined(options) };
      this.emit("optionsUpdated", this.options);
      this._rendered = null;
      this.render();
    }

    getSnapshot() {
      return this._snapshot;
    }

    // The snapshot object only changes when its contents do (React's useSyncExternalStore).
    setSnapshot(fields) {
      const next = { ...this._snapshot, ...fields };
      if (sameValues(next, this._snapshot)) {
        return;
      }
      this._snapshot = Object.freeze(next);
      this.state = next.state;
      this.emit("snapshot", this._snapshot);
    }

    fire(event, ...args) {
      this.emit(event, ...args);
      const handler = this.options[handlerName(event)];
      if (typeof handler === "function") {
        try {
          handler(...args);
        } catch (error) {
          rethrowLater(error);
        }
      }
    }

    // A cancelable CustomEvent; true when nobody called preventDefault().
    fireCancelable(event) {
      const ev = new CustomEvent(event, { detail: this, cancelable: true });
      this.fire(event, ev);
      return !ev.defaultPrevented;
    }

    get locale() {
      return this._session._whop.options.locale || "en";
    }

    get currency() {
      return this._session.currency;
    }

    render() {
      const data = this._session._data;
      if (!this._root) {
        return;
      }
      this._root.classList.toggle("whop-el--dark", appearanceOf(this._session._whop) === "dark");
      if (!data) {
        if (this._rendered !== "loading") {
          this._root.replaceChildren(node("p", "whop-el-muted", "Loading…"));
          this._rendered = "loading";
        }
        return;
      }
      if (this._rendered === data) {
        return;
      }
      this._rendered = data;
      this._root.replaceChildren(...this.view(data));
      if (this.state !== "ready") {
        this.setSnapshot({ state: "ready" });
        // Later, as from Whop's frames: whoever mounted it has attached listeners by then.
        setTimeout(() => this.fire("ready", this));
      }
    }

    failed(error) {
      this.emit("error", error);
    }

    balanceOf(data) {
      return data.balances[this.currency] || 0;
    }

    canWithdraw(data) {
      return data.verification.status === "connected" && Boolean(data.payout_method);
    }
  }

  const BANNERS = {
    connected: {
      type: "kyc-success",
      tone: "success",
      text: "Your identity is verified. You can withdraw your earnings.",
    },
    verification_failed: {
      type: "kyc-error",
      tone: "error",
      text: "Whop could not verify your identity. Try again to withdraw your earnings.",
      action: "Try again",
    },
    not_started: {
      type: "information-required",
      tone: "warning",
      text: "Verify your identity with Whop to withdraw your earnings.",
      action: "Verify identity",
    },
  };

  class StatusBannerElement extends PayoutsElement {
    initialSnapshot() {
      return { bannerType: null };
    }

    view(data) {
      const banner = BANNERS[data.verification.status] || BANNERS.not_started;
      const box = node("div", "whop-el-banner whop-el-banner--" + banner.tone);
      box.setAttribute("role", "status");
      box.appendChild(node("p", "whop-el-banner-text", banner.text));
      if (banner.action) {
        box.appendChild(
          button(banner.action, "whop-el-button--primary", () => {
            if (this.fireCancelable("verifyClick")) {
              this._session._startVerification(this);
            }
          })
        );
      }
      if (this._snapshot.bannerType !== banner.type) {
        this.setSnapshot({ bannerType: banner.type });
        const ev = new CustomEvent("bannerChange", { detail: this });
        this.fire("bannerChange", ev, banner.type);
      }
      return [box];
    }
  }

  class VerifyElement extends PayoutsElement {
    view(data) {
      const parts = [];
      if (data.verification.status === "connected") {
        parts.push(node("p", "whop-el-verified", "Identity verified"));
        if (data.payout_method) {
          parts.push(
            node("p", "whop-el-muted", "Payouts go to " + data.payout_method.nickname + ".")
          );
        }
      } else {
        const failed = data.verification.status === "verification_failed";
        parts.push(
          node(
            "p",
            "",
            failed
              ? "Whop could not verify your identity. You can try again."
              : "Whop needs to verify your identity before you can withdraw."
          )
        );
        parts.push(
          button(
            failed ? "Try verification again" : "Verify identity",
            "whop-el-button--primary",
            () => this._session._startVerification(this)
          )
        );
      }
      if (this.options.includeControls) {
        parts.push(
          button("Close", "whop-el-button--ghost", () => {
            if (this.fireCancelable("close")) {
              this.unmount();
            }
          })
        );
      }
      return parts;
    }
  }

  // The withdraw form: used by withdraw-element, and inline by the button and the balance.
  function withdrawForm(element, data, { onDone, onCancel }) {
    const locale = element.locale;
    const currency = element.currency;
    const available = element.balanceOf(data);
    const digits = currencyFormat(locale, currency).resolvedOptions().maximumFractionDigits;
    const idempotencyKey = newKey();

    const form = node("form", "whop-el-form");
    form.noValidate = true;
    const id = "whop-el-amount-" + idempotencyKey.slice(0, 8);
    const label = node("label", "whop-el-label", "Amount to withdraw (" + currency.toUpperCase() + ")");
    label.htmlFor = id;
    const input = node("input", "whop-el-input");
    input.id = id;
    input.name = "amount";
    input.type = "text";
    input.inputMode = "decimal";
    input.autocomplete = "off";
    input.value = available.toFixed(digits);
    const hint = node(
      "p",
      "whop-el-muted",
      formatMoney(locale, currency, available) + " available"
    );
    const problem = node("p", "whop-el-problem");
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    const confirm = node("button", "whop-el-button whop-el-button--primary", "Confirm withdrawal");
    confirm.type = "submit";
    const actions = node("div", "whop-el-actions");
    actions.append(confirm, button("Cancel", "whop-el-button--ghost", onCancel));
    form.append(label, input, hint, problem, actions);

    function refuse(message) {
      problem.textContent = message;
      problem.hidden = false;
      input.setAttribute("aria-invalid", "true");
    }

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = input.value.trim().replace(/,/g, "");
      const pattern = digits > 0 ? new RegExp("^\\d+(\\.\\d{1," + digits + "})?$") : /^\d+$/;
      const amount = Number(text);
      if (!pattern.test(text) || !(amount > 0)) {
        refuse("Enter an amount such as " + (1).toFixed(digits) + ".");
        return;
      }
      if (amount > available) {
        refuse("You can withdraw at most " + formatMoney(locale, currency, available) + ".");
        return;
      }
      confirm.disabled = true;
      try {
        const withdrawal = await element._session._request(
          "POST",
          "payouts/" + encodeURIComponent(element._session.options.companyId) + "/withdrawals",
          { amount, currency },
          idempotencyKey
        );
        onDone(withdrawal);
      } catch (error) {
        if (!isAbort(error)) {
          confirm.disabled = false;
          refuse(error.message);
        }
      }
    });
    return form;
  }

  // Shared by the withdraw button and the balance: "Withdraw" opens the form in place.
  class WithdrawingElement extends PayoutsElement {
    withdrawControls(data, label) {
      if (!this.canWithdraw(data)) {
        return [
          button("Verify to withdraw", "whop-el-button--primary", () => {
            if (this.fireCancelable("verify")) {
              this._session._startVerification(this);
            }
          }),
        ];
      }
      if (this._formOpen) {
        return [
          withdrawForm(this, data, {
            onDone: () => {
              this._formOpen = false;
              this.withdrawn();
              this._session._reload();
            },
            onCancel: () => this.toggleForm(false),
          }),
        ];
      }
      const open = button(label, "whop-el-button--primary", () => {
        if (this.fireCancelable("withdraw")) {
          this.toggleForm(true);
        }
      });
      open.disabled = this.balanceOf(data) <= 0;
      const parts = [open];
      if (open.disabled) {
        parts.push(node("p", "whop-el-muted", "Nothing to withdraw yet."));
      }
      return parts;
    }

    toggleForm(open) {
      this._formOpen = open;
      this._rendered = null;
      this.render();
      if (open && this._root) {
        const input = this._root.querySelector("input");
        if (input) {
          input.focus();
        }
      }
    }

    withdrawn() {
      this.fire("withdrawalRequested", new CustomEvent("withdrawalRequested", { detail: this }));
    }
  }

  class WithdrawButtonElement extends WithdrawingElement {
    view(data) {
      return this.withdrawControls(data, "Withdraw");
    }
  }

  class BalanceElement extends WithdrawingElement {
    view(data) {
      const parts = [
        node("p", "whop-el-label", "Available to withdraw"),
        node("p", "whop-el-amount", formatMoney(this.locale, this.currency, this.balanceOf(data))),
      ];
      if (this.options.showWithdrawButton) {
        parts.push(...this.withdrawControls(data, "Withdraw"));
      }
      return parts;
    }
  }

  class WithdrawElement extends PayoutsElement {
    view(data) {
      if (!this.canWithdraw(data)) {
        return [node("p", "", "Verify your identity with Whop before you withdraw.")];
      }
      return [
        withdrawForm(this, data, {
          onDone: () => {
            this.fire("withdraw", new CustomEvent("withdraw", { detail: this }));
            this._session._reload();
          },
          onCancel: () => {
            if (this.fireCancelable("close")) {
              this.unmount();
            }
          },
        }),
      ];
    }
  }

  class WithdrawalsElement extends PayoutsElement {
    view(data) {
      if (data.withdrawals.length === 0) {
        return [node("p", "whop-el-muted", "No withdrawals yet.")];
      }
      const table = node("table", "whop-el-table");
      const head = node("tr");
      for (const title of ["Date", "Amount", "Status", "Destination"]) {
        const th = node("th", "", title);
        th.scope = "col";
        head.appendChild(th);
      }
      table.appendChild(node("thead")).appendChild(head);
      const body = table.appendChild(node("tbody"));
      const method = data.payout_method;
      for (const withdrawal of data.withdrawals) {
        const row = node("tr");
        row.setAttribute("data-withdrawal-id", withdrawal.id);
        const status = withdrawal.status.charAt(0).toUpperCase() + withdrawal.status.slice(1);
        const destination =
          method && method.id === withdrawal.payout_method.id ? method.nickname : "Bank account";
        row.append(
          node("td", "", formatDate(this.locale, withdrawal.created_at)),
          node("td", "whop-el-num", formatMoney(this.locale, withdrawal.currency, withdrawal.amount)),
          node("td", "whop-el-status whop-el-status--" + withdrawal.status, status),
          node("td", "", destination)
        );
        body.appendChild(row);
      }
      return [table];
    }
  }

  const ELEMENT_TYPES = {
    "status-banner-element": StatusBannerElement,
    "verify-element": VerifyElement,
    "balance-element": BalanceElement,
    "withdraw-button-element": WithdrawButtonElement,
    "withdraw-element": WithdrawElement,
    "withdrawals-element": WithdrawalsElement,
  };

  // --- the session --------------------------------------------------------------------------

  class PayoutsSession extends Emitter {
    constructor(whop, options) {
      super();
      this._whop = whop;
      this.options = PayoutsSession.check(options);
      this._elements = new Set();
      this._data = null;
      this._dataKey = null;
      this._token = null;
      this._refreshing = null;
      this._refreshTimer = null;
      this._failures = 0;
      this._abort = new AbortController();
      this._destroyed = false;
      // After the caller's synchronous `on("ready")`, as Whop's session would.
      Promise.resolve().then(() => this._start());
    }

    static check(options) {
      const clean = { currency: "USD", ...defined(options) };
      if (!clean.companyId || typeof clean.companyId !== "string") {
        throw new Error("createPayoutsSession: companyId (a biz_… id) is required");
      }
      if (clean.token === undefined) {
        throw new Error("createPayoutsSession: token (a string or a function) is required");
      }
      return clean;
    }

    get currency() {
      return String(this.options.currency || "USD").toLowerCase();
    }

    updateOptions(options) {
      const before = this.options;
      this.options = PayoutsSession.check({ ...before, ...defined(options) });
      this.emit("optionsUpdated", this.options);
      const tokenChanged = this.options.token !== before.token;
      if (tokenChanged) {
        this._token = null;
      }
      if (
        tokenChanged ||
        this.options.companyId !== before.companyId ||
        this.options.currency !== before.currency
      ) {
        this._dataKey = null;
        this._reload();
      }
    }

    destroy() {
      this._destroyed = true;
      this._abort.abort();
      clearTimeout(this._refreshTimer);
      for (const element of Array.from(this._elements)) {
        element.unmount();
      }
    }

    createElement(type, options) {
      const name = typeof type === "string" ? type : type && type.type;
      const Kind = ELEMENT_TYPES[name];
      if (!Kind) {
        throw new Error(
          "The Whop emulator has no payouts element “" + name + "”; it provides " +
            Object.keys(ELEMENT_TYPES).join(", ")
        );
      }
      return new Kind(this, name, options || {});
    }

    _attach(element) {
      this._elements.add(element);
    }

    _detach(element) {
      this._elements.delete(element);
    }

    async _start() {
      try {
        await this._load();
      } catch (error) {
        this._retryLater(error, () => this._start());
        return;
      }
      this._failures = 0;
      this.emit("ready");
    }

    // A failed start or refresh is reported, then tried again: soon, then less often.
    _retryLater(error, attempt) {
      if (this._destroyed || isAbort(error)) {
        return;
      }
      this._failed(error);
      const wait = RETRY_MS[Math.min(this._failures, RETRY_MS.length - 1)];
      this._failures += 1;
      clearTimeout(this._refreshTimer);
      this._refreshTimer = setTimeout(attempt, wait);
    }

    _reload() {
      this._load().catch((error) => this._failed(error));
    }

    _failed(error) {
      if (this._destroyed || isAbort(error)) {
        return;
      }
      this.emit("error", error);
      for (const element of this._elements) {
        element.failed(error);
      }
    }

    async _load() {
      const data = await this._request(
        "GET",
        "payouts/" + encodeURIComponent(this.options.companyId)
      );
      if (typeof this.options.token === "function") {
        this._scheduleRefresh(data.token_expires_in);
      }
      const { token_expires_in: _ignored, ...shown } = data;
      const key = JSON.stringify(shown);
      if (key !== this._dataKey) {
        // Only a change re-renders: a refresh must not close a form someone is filling in.
        this._dataKey = key;
        this._data = shown;
        for (const element of this._elements) {
          element.render();
        }
      }
    }

    async _obtainToken() {
      const source = this.options.token;
      const value =
        typeof source === "function"
          ? await source({ abortSignal: this._abort.signal })
          : await source;
      if (typeof value !== "string" || value === "") {
        throw new WhopElementError("UNKNOWN_ERROR", "The payouts session got no access token");
      }
      return value;
    }

    // One refresh at a time; everyone waiting gets its token.
    _refreshToken() {
      if (!this._refreshing) {
        this._refreshing = this._obtainToken()
          .then((token) => {
            const refreshed = this._token !== null;
            this._token = token;
            if (refreshed) {
              this.emit("tokenRefreshed", token);
            }
            return token;
          })
          .catch((error) => {
            if (!isAbort(error)) {
              this.emit("tokenRefreshError", error);
            }
            throw error;
          })
          .finally(() => {
            this._refreshing = null;
          });
      }
      return this._refreshing;
    }

    _scheduleRefresh(expiresIn) {
      clearTimeout(this._refreshTimer);
      if (this._destroyed || typeof expiresIn !== "number") {
        return;
      }
      // Ahead of expiry by a quarter of the lifetime, between one second and a minute.
      const margin = Math.min(60, Math.max(1, expiresIn / 4));
      const delay = Math.max(0.5, expiresIn - margin) * 1000;
      this._refreshTimer = setTimeout(() => this._refreshThenLoad(), delay);
    }

    async _refreshThenLoad() {
      try {
        await this._refreshToken();
        await this._load();
        this._failures = 0;
      } catch (error) {
        this._retryLater(error, () => this._refreshThenLoad());
      }
    }

    async _request(method, path, body, idempotencyKey, retried) {
      if (!this._token) {
        this._token = typeof this.options.token === "function"
          ? await this._refreshToken()
          : await this._obtainToken();
      }
      const headers = { Authorization: "Bearer " + this._token, Accept: "application/json" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
      }
      if (idempotencyKey) {
        headers["Idempotency-Key"] = idempotencyKey;
      }
      const response = await fetch(new URL(path, API), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
        signal: this._abort.signal,
      });
      if (response.status === 401 && !retried && typeof this.options.token === "function") {
        await this._refreshToken();
        return this._request(method, path, body, idempotencyKey, true);
      }
      const payload = await response.json().catch(() => null);
      if (!response.ok) {
        const message =
          payload && payload.error && payload.error.message
            ? payload.error.message
            : "Whop answered " + response.status;
        throw new WhopElementError("UNKNOWN_ERROR", message, response.status);
      }
      return payload;
    }

    async _startVerification(element) {
      try {
        const link = await this._request(
          "POST",
          "payouts/" + encodeURIComponent(this.options.companyId) + "/verification",
          { return_url: new URL(this.options.redirectUrl, window.location.href).href }
        );
        window.location.assign(link.url);
      } catch (error) {
        if (!isAbort(error)) {
          element.failed(error);
          this._failed(error);
        }
      }
    }
  }

  // --- the constructor the packages look for ------------------------------------------------

  class WhopElements extends Emitter {
    constructor(options) {
      super();
      this.options = { environment: "production", locale: "en", ...defined(options) };
      if (!ENVIRONMENTS.includes(this.options.environment)) {
        throw new Error("WhopElements: environment must be “production” or “sandbox”");
      }
      this._sessions = new Set();
      linkStylesheet();
    }

    updateOptions(options) {
      const { environment: _fixed, ...changes } = defined(options);
      this.options = { ...this.options, ...changes };
      this.emit("optionsUpdated", this.options);
      for (const session of this._sessions) {
        for (const element of session._elements) {
          element._rendered = null;
          element.render();
        }
      }
    }

    createPayoutsSession(options) {
      const session = new PayoutsSession(this, options);
      this._sessions.add(session);
      return session;
    }

    createChatSession() {
      throw new Error("The Whop emulator provides payouts sessions only");
    }

    createWalletSession() {
      throw new Error("The Whop emulator provides payouts sessions only");
    }
  }

  window.WhopElements = WhopElements;
})();
