package applayer

import (
	"net/http"
	"net/mail"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/auth"
)

// HeaderEmail is the original app layer's identity header.
const HeaderEmail = "email"

// Identity sources beyond pkg/auth's.
const (
	SourceEmail = "email"
	SourceBasic = "basic"
)

// Identity errors (the original's util/email_utils.validate_email: 401 missing, 400 invalid).
var (
	errNoIdentity = &apierr.Error{Kind: apierr.Unauthenticated, Field: HeaderEmail,
		Message: "email header is required (or Authorization: Bearer <token> / Basic <email:password>)"}
	errBadToken = &apierr.Error{Kind: apierr.Unauthenticated, Field: auth.HeaderAuthorization, Message: "invalid bearer token"}
	errBadBasic = &apierr.Error{Kind: apierr.Unauthenticated, Field: auth.HeaderAuthorization,
		Message: "invalid basic credentials: the password must equal the email (or be a token issued for it)"}
)

const maxEmailLen = 254

// NormalizeEmail validates an email address (a bare addr-spec with a dotted domain, as pydantic's EmailStr
// accepts) and returns it lower-cased. Errors are InvalidArgument naming the email header.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func() error {
		shown := s
		if len(shown) > 64 {
			shown = shown[:64] + "…"
		}
		return &apierr.Error{Kind: apierr.InvalidArgument, Field: HeaderEmail,
			Message: "email header is not a valid email address: " + quote(shown)}
	}
	if s == "" || len(s) > maxEmailLen || strings.ContainsAny(s, " \t\r\n<>,;\"\\") {
		return "", bad()
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", bad()
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") || strings.HasPrefix(domain, "[") {
		return "", bad()
	}
	return strings.ToLower(s), nil
}

func quote(s string) string { return "'" + s + "'" }

// identify returns the caller: Authorization (Bearer token → configured email; Basic with the email as user
// name and the email itself or a token issued for it as password) wins over the email header. Other
// Authorization schemes are ignored.
func (h *Handler) identify(r *http.Request) (auth.Identity, error) {
	if v := strings.TrimSpace(r.Header.Get(auth.HeaderAuthorization)); v != "" {
		scheme, rest, _ := strings.Cut(v, " ")
		rest = strings.TrimSpace(rest)
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			id, err := h.tokens.Resolve(r.Context(), rest)
			if err != nil || rest == "" {
				return auth.Identity{}, errBadToken
			}
			return id, nil
		case strings.EqualFold(scheme, "Basic"):
			user, pass, ok := r.BasicAuth()
			if !ok {
				return auth.Identity{}, errBadBasic
			}
			email, err := NormalizeEmail(user)
			if err != nil {
				return auth.Identity{}, err
			}
			if p, perr := NormalizeEmail(pass); perr == nil && p == email {
				return auth.Identity{Email: email, Source: SourceBasic}, nil
			}
			if id, terr := h.tokens.Resolve(r.Context(), pass); terr == nil && id.Email == email {
				return auth.Identity{Email: email, Source: SourceBasic}, nil
			}
			return auth.Identity{}, errBadBasic
		}
	}
	v, present := r.Header[http.CanonicalHeaderKey(HeaderEmail)]
	if !present || len(v) == 0 || strings.TrimSpace(v[0]) == "" {
		return auth.Identity{}, errNoIdentity
	}
	email, err := NormalizeEmail(v[0])
	if err != nil {
		return auth.Identity{}, err
	}
	return auth.Identity{Email: email, Source: SourceEmail}, nil
}

// caller returns the identity of r or the 401/400 error.
func (h *Handler) caller(r *http.Request) (string, error) {
	id, err := h.identify(r)
	if err != nil {
		return "", err
	}
	return id.Email, nil
}
