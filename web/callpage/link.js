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

/**
 * The room kind (`visit` or `group`) that the token's `kind` claim names, read without checking
 * the signature and only to choose the first screen: a group visit starts with the device
 * check, a 1:1 visit joins at once. The server decides the real kind (`joined.kind`); no other
 * claim is read, and the token's `name` is never shown (names come from the server's messages).
 */
export function tokenKind(token) {
  try {
    const part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
    return claims?.kind === 'group' ? 'group' : 'visit';
  } catch {
    return 'visit';
  }
}
