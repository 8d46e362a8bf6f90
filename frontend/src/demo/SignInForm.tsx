import { useState, type FormEvent } from "react";
import type { BetterAuthClient } from "../auth/betterAuthClient";

/** Email and password sign-in through Better Auth on the Worker. */
export function SignInForm({ auth }: { auth: BetterAuthClient }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { error: failure } = await auth.signIn.email({ email, password });
      if (failure) setError(failure.message ?? `Sign-in failed (${failure.status}).`);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : "Sign-in failed.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card narrow" aria-labelledby="sign-in-title">
      <h2 id="sign-in-title">Sign in</h2>
      <form className="stack" onSubmit={submit}>
        <label>
          Email
          <input type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error ? (
          <p className="notice notice-error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
      <p className="muted small">Demo users: owner@example.com, member@example.com, admin@example.com (password demo-password-123).</p>
    </section>
  );
}
