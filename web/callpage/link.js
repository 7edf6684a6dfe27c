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
 * check, a 1:1 visit joins at once. The server decides the real kind (`joined.kind`). Besides
 * `kind` only `booking` is read (below), and the token's `name` is never shown (names come from
 * the server's messages).
 */
export function tokenKind(token) {
  return readClaims(token)?.kind === 'group' ? 'group' : 'visit';
}

/**
 * Whether the token names a booking (its `booking` claim), read the same unchecked way and only
 * to offer sending files, which the server keeps with that booking ("Files in a call" in
 * docs/portal-api.md): true, false, or null when the token cannot be read (then the server
 * decides, and says why if it refuses).
 */
export function tokenHasBooking(token) {
  const claims = readClaims(token);
  return claims ? typeof claims.booking === 'string' && claims.booking !== '' : null;
}

/** The token's claims, unchecked, or null when it is not a readable JWT. */
function readClaims(token) {
  try {
    const part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}
