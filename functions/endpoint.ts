/**
 * Pointing a Google API client at another endpoint (`http://host:port`, `https://host`): a
 * loopback stand-in in the tests (there is no emulator for Cloud Scheduler or Cloud Run), or a
 * private endpoint. The client then speaks the API's REST form (`fallback: true`).
 */
/**
 * The client options for `endpoint`, or `null` when it is not a URL. (An inline type: the
 * clients' option types have an index signature, which an interface does not satisfy.)
 */
export function restEndpoint(
  endpoint: string,
): { apiEndpoint: string; port: number; protocol: string; fallback: true } | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return null;
  }
  const protocol = url.protocol.replace(/:$/, '');
  return {
    apiEndpoint: url.hostname,
    port: Number(url.port || (protocol === 'http' ? 80 : 443)),
    protocol,
    fallback: true,
  };
}
