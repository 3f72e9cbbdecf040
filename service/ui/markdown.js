// A small, safe Markdown subset for card details (CDS Hooks 2.0: Card.detail is GitHub
// Flavored Markdown). Output is built as DOM nodes whose text is set with textContent, so no
// card text is ever parsed as HTML: a <script> in a detail stays the text "<script>".
// Supported: paragraphs, "- " / "* " / "1. " lists, **bold**, *italic*, `code`,
// [text](http(s) link); a link to any other scheme stays text.
'use strict';

(function (global) {
    const inline_pattern = /\*\*(.+?)\*\*|\*(.+?)\*|\[([^\]]+)\]\(([^)\s]+)\)|`([^`]+)`/g;

    function safe_link(url) {
        return /^https?:\/\//i.test(url) ? url : null;
    }

    // Appends `text` to `parent` as text, <strong>, <em> and <a> nodes.
    function append_inline(parent, text) {
        let last = 0;
        for (const match of text.matchAll(inline_pattern)) {
            if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
            if (match[1] !== undefined) {
                const strong = document.createElement('strong');
                append_inline(strong, match[1]);
                parent.appendChild(strong);
            } else if (match[2] !== undefined) {
                const em = document.createElement('em');
                append_inline(em, match[2]);
                parent.appendChild(em);
            } else if (match[5] !== undefined) {
                parent.appendChild(Object.assign(document.createElement('code'), { textContent: match[5] }));
            } else {
                const href = safe_link(match[4]);
                if (href) {
                    const a = document.createElement('a');
                    a.href = href;
                    a.rel = 'noopener noreferrer';
                    a.target = '_blank';
                    a.textContent = match[3];
                    parent.appendChild(a);
                } else {
                    parent.appendChild(document.createTextNode(match[0]));
                }
            }
            last = match.index + match[0].length;
        }
        if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    }

    // Returns a DocumentFragment for the Markdown `source`.
    function render_markdown(source) {
        const fragment = document.createDocumentFragment();
        let list = null;
        let paragraph = null;
        for (const raw of String(source).split(/\r?\n/)) {
            const line = raw.trimEnd();
            const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
            const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
            if (bullet || numbered) {
                const kind = bullet ? 'UL' : 'OL';
                if (!list || list.tagName !== kind) {
                    list = document.createElement(kind.toLowerCase());
                    fragment.appendChild(list);
                }
                const item = document.createElement('li');
                append_inline(item, (bullet || numbered)[1]);
                list.appendChild(item);
                paragraph = null;
                continue;
            }
            list = null;
            if (line.trim() === '') {
                paragraph = null;
                continue;
            }
            if (!paragraph) {
                paragraph = document.createElement('p');
                fragment.appendChild(paragraph);
            } else {
                paragraph.appendChild(document.createElement('br'));
            }
            append_inline(paragraph, line.trim());
        }
        return fragment;
    }

    global.render_markdown = render_markdown;
})(window);
