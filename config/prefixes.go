package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// PrivateRanges are the address ranges the keyword "private_ranges" stands
// for in lists of trusted proxies: loopback, RFC 1918, IPv6 unique-local and
// link-local.
var PrivateRanges = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// ParsePrefixes parses a list of CIDRs, plain IP addresses (a /32 or /128)
// and the keyword "private_ranges".
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		ps, err := ParseTrusted(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// ParseTrusted parses one entry of a list of trusted peers: a CIDR, a
// plain IP address, or the keyword "private_ranges". IPv4-mapped IPv6
// forms are turned into IPv4.
func ParseTrusted(s string) ([]netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "private_ranges" {
		return PrivateRanges, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR, an IP address nor private_ranges: %w", s, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return []netip.Prefix{p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a CIDR, an IP address nor private_ranges", s)
	}
	a = a.Unmap()
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

// ContainsAddr reports whether any prefix holds a (IPv4-mapped IPv6
// addresses count as IPv4).
func ContainsAddr(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
