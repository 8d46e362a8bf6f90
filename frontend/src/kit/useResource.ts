import { useCallback, useEffect, useRef, useState } from "react";

export type Resource<T> =
  | { state: "loading"; data?: T; error?: undefined }
  | { state: "ready"; data: T; error?: undefined }
  | { state: "failed"; data?: T; error: unknown };

/**
 * Loads `load()` when `key` changes (null: nothing to load) and on reload(); an answer that
 * arrives after a newer request started is dropped. Earlier data stays while reloading.
 */
export function useResource<T>(key: string | null, load: () => Promise<T>) {
  const [resource, setResource] = useState<Resource<T>>({ state: "loading" });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setResource((previous) => ({ state: "loading", data: previous.data }));
    try {
      const data = await loadRef.current();
      if (mine === generation.current) setResource({ state: "ready", data });
    } catch (error) {
      if (mine === generation.current) setResource((previous) => ({ state: "failed", data: previous.data, error }));
    }
  }, []);

  useEffect(() => {
    if (key === null) {
      generation.current += 1;
      setResource({ state: "loading" });
      return;
    }
    void reload();
  }, [key, reload]);

  return { ...resource, reload };
}
