// A very small Markdown renderer for the region's policy texts: headings, paragraphs, bullet and
// numbered lists, emphasis markers dropped, and links (http, https and mailto only). Everything is
// built as DOM nodes with textContent, so no text from the server is ever parsed as HTML.

const SAFE_LINK = /^(https?:|mailto:)/i;

/** Appends `text` with its `[label](url)` links made into anchors, to `parent`. */
function appendInline(parent, text) {
  const link = /\[([^\]]+)\]\(([^)\s]+)\)/g;
  let at = 0;
  for (const match of text.matchAll(link)) {
    parent.append(plain(text.slice(at, match.index)));
    const [, label, href] = match;
    if (SAFE_LINK.test(href)) {
      const a = document.createElement('a');
      a.href = href;
      a.rel = 'noopener noreferrer';
      a.textContent = plain(label);
      parent.append(a);
    } else {
      parent.append(plain(label));
    }
    at = match.index + match[0].length;
  }
  parent.append(plain(text.slice(at)));
}

/** Text without Markdown emphasis markers and backslash escapes. */
function plain(text) {
  return text
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/(^|[\s(])[*_]([^*_\s][^*_]*?)[*_](?=[\s).,;:!?]|$)/g, '$1$2')
    .replace(/`([^`]+)`/g, '$1')
    .replace(/\\([\\`*_{}[\]()#+\-.!>])/g, '$1');
}

/**
 * Renders `markdown` into a DocumentFragment. Headings are shifted by `headingOffset` (a page
 * whose own h1 is the title renders the text's "#" as h2).
 */
export function renderMarkdown(markdown, { headingOffset = 1 } = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(markdown ?? '').replace(/\r\n?/g, '\n').split('\n');
  let paragraph = [];
  let list = null;

  const flushParagraph = () => {
    if (paragraph.length === 0) return;
    const p = document.createElement('p');
    appendInline(p, paragraph.join(' '));
    fragment.append(p);
    paragraph = [];
  };
  const closeList = () => {
    list = null;
  };

  for (const raw of lines) {
    const line = raw.trimEnd();
    const heading = /^(#{1,6})\s+(.*?)\s*#*$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (line.trim() === '') {
      flushParagraph();
      closeList();
    } else if (heading) {
      flushParagraph();
      closeList();
      const level = Math.min(6, heading[1].length + headingOffset);
      const h = document.createElement(`h${level}`);
      appendInline(h, heading[2]);
      fragment.append(h);
    } else if (bullet || numbered) {
      flushParagraph();
      const tag = bullet ? 'ul' : 'ol';
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = document.createElement(tag);
        fragment.append(list);
      }
      const li = document.createElement('li');
      appendInline(li, (bullet ?? numbered)[1]);
      list.append(li);
    } else if (list && /^\s{2,}\S/.test(raw)) {
      // A continuation line of the last list item.
      list.lastElementChild.append(' ');
      appendInline(list.lastElementChild, line.trim());
    } else {
      closeList();
      paragraph.push(line.trim());
    }
  }
  flushParagraph();
  return fragment;
}
