import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBetterAuthClient } from "./auth/betterAuthClient";
import { config } from "./config";
import { App } from "./demo/App";
import "./styles.css";

const auth = createBetterAuthClient(config.workerUrl);
const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App auth={auth} backendUrl={config.backendUrl} stripePublishableKey={config.stripePublishableKey} />
  </StrictMode>,
);
