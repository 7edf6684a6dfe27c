// What the join link says: the room (the link's path) and the join token (its fragment).

/**
 * `{ room, token }` of a link `/call/ROOM#token=JWT`; either is null when the link lacks it.
 * The token stays in the fragment, so it never reaches access logs or Referer headers.
 */
export function readLink(loc = location) {
  const match = loc.pathname.match(/^\/call\/([^/]+)\/?$/);
  let room = null;
  if (match) {
    try {
      room = decodeURIComponent(match[1]);
    } catch {
      room = null;
    }
  }
  const token = new URLSearchParams(loc.hash.replace(/^#/, '')).get('token');
  return { room, token: token || null };
}
