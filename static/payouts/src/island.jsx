// The payout page's one island: Whop's embedded payout components (status banner,
// verification, balance, withdraw button, withdrawals) inside Elements + PayoutsSession.
//
// Its configuration comes from data attributes on #payouts-island, written by the server
// (templates/payouts/dashboard.html); there is no inline script. The session gets a token
// *function*, which Whop's loader calls with {abortSignal} and again before each token
// expires; it asks Linkmint (same origin, CSRF header) for a short-lived token for the
// signed-in creator's own company.
//
// `loadWhopElements` injects Whop's loader script unless `window.WhopElements` already
// exists: offline, the page loads the emulator's stand-in (/_whop/elements.js) before this
// bundle, so nothing is fetched from Whop.
import { loadWhopElements } from "@whop/embedded-components-vanilla-js";
import {
  BalanceElement,
  Elements,
  PayoutsSession,
  StatusBannerElement,
  VerifyElement,
  WithdrawButtonElement,
  WithdrawalsElement,
  usePayoutsSession,
} from "@whop/embedded-components-react-js";
import { useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";

const MOUNT_ID = "payouts-island";
const DARK = "(prefers-color-scheme: dark)";
const CONFIG_ATTRIBUTES = {
  companyId: "data-company-id",
  tokenUrl: "data-token-url",
  csrfToken: "data-csrf-token",
  environment: "data-environment",
  currency: "data-currency",
  redirectUrl: "data-redirect-url",
};

function readConfig(mount) {
  const config = {};
  for (const [name, attribute] of Object.entries(CONFIG_ATTRIBUTES)) {
    const value = mount.getAttribute(attribute);
    if (!value) {
      throw new Error(`#${MOUNT_ID} needs ${attribute}`);
    }
    config[name] = value;
  }
  return config;
}

class PayoutTokenError extends Error {}

// Never a string: the loader calls this whenever it needs a (fresh) token.
function payoutTokenFunction({ tokenUrl, companyId, csrfToken }) {
  return async function fetchPayoutToken({ abortSignal }) {
    const response = await fetch(tokenUrl, {
      method: "POST",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": csrfToken,
      },
      body: JSON.stringify({ company_id: companyId }),
      credentials: "same-origin",
      cache: "no-store",
      signal: abortSignal,
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || typeof body.token !== "string") {
      throw new PayoutTokenError(
        body.error || `Linkmint could not open your payouts (${response.status}).`
      );
    }
    return body.token;
  };
}

function messageOf(error) {
  if (error instanceof PayoutTokenError) {
    return error.message;
  }
  return "Whop's payout components ran into a problem. Reload the page to try again.";
}

// What went wrong with the session (a token Linkmint could not get, a Whop error), shown
// where a person will see it; cleared once the session works again.
function SessionProblem() {
  const session = usePayoutsSession();
  const [problem, setProblem] = useState(null);
  useEffect(() => {
    if (!session) {
      return undefined;
    }
    const show = (error) => setProblem(messageOf(error));
    const clear = () => setProblem(null);
    session.on("error", show);
    session.on("tokenRefreshError", show);
    session.on("ready", clear);
    session.on("tokenRefreshed", clear);
    return () => {
      session.off("error", show);
      session.off("tokenRefreshError", show);
      session.off("ready", clear);
      session.off("tokenRefreshed", clear);
    };
  }, [session]);
  return problem ? (
    <p className="payouts-problem" role="alert">
      {problem}
    </p>
  ) : null;
}

function Loading({ children = "Loading…" }) {
  return <p className="payouts-loading">{children}</p>;
}

function LoaderProblem({ elements }) {
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    elements.catch(() => setFailed(true));
  }, [elements]);
  return failed ? (
    <p className="payouts-problem" role="alert">
      Whop's payout components could not be loaded. Check your connection and reload the page.
    </p>
  ) : null;
}

// "dark" or "light", as the page is drawn (app.css follows the same media query), and again
// whenever the system's scheme changes while the page is open.
function useColorScheme() {
  const query = useMemo(() => window.matchMedia(DARK), []);
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const changed = (event) => setDark(event.matches);
    query.addEventListener("change", changed);
    return () => query.removeEventListener("change", changed);
  }, [query]);
  return dark ? "dark" : "light";
}

function PayoutsIsland({ config, elements, getToken }) {
  const scheme = useColorScheme();
  const appearance = useMemo(
    () => ({ theme: { appearance: scheme, accentColor: "jade" } }),
    [scheme],
  );
  return (
    <>
      <LoaderProblem elements={elements} />
      <Elements elements={elements} appearance={appearance} locale="en">
        <PayoutsSession
          token={getToken}
          companyId={config.companyId}
          redirectUrl={config.redirectUrl}
          currency={config.currency}
        >
          <SessionProblem />
          <StatusBannerElement
            className="payouts-element payouts-banner"
            fallback={<Loading>Checking your payout account…</Loading>}
          />
          <div className="payouts-grid">
            <section className="card payouts-card" aria-labelledby="payouts-balance-heading">
              <h2 id="payouts-balance-heading">Balance</h2>
              <BalanceElement className="payouts-element" fallback={<Loading />} />
              <WithdrawButtonElement className="payouts-element" />
            </section>
            <section className="card payouts-card" aria-labelledby="payouts-verify-heading">
              <h2 id="payouts-verify-heading">Identity verification</h2>
              <VerifyElement className="payouts-element" fallback={<Loading />} />
            </section>
          </div>
          <section className="card payouts-card" aria-labelledby="payouts-withdrawals-heading">
            <h2 id="payouts-withdrawals-heading">Withdrawals</h2>
            <WithdrawalsElement className="payouts-element" fallback={<Loading />} />
          </section>
        </PayoutsSession>
      </Elements>
    </>
  );
}

const mount = document.getElementById(MOUNT_ID);
if (mount) {
  const config = readConfig(mount);
  const elements = loadWhopElements({ environment: config.environment });
  createRoot(mount).render(
    <PayoutsIsland config={config} elements={elements} getToken={payoutTokenFunction(config)} />
  );
}
